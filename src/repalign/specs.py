"""The one spec grammar: how every pluggable piece is written as a string.

A spec names a registry entry and may give it options and parts::

    spec    := name [ "(" spec { "," spec } ")" ] [ ":" option { "," option } ]
    name    := word { ":" word }
    option  := key "=" value
    value   := number | true | false | none | word | "quoted text" | "[" [ value { "," value } ] "]"

- A ``word`` is a run of characters other than spaces and ``, : ( ) [ ] "`` (in a value, ``=`` is
  excluded too and ``:`` allowed, so ``observer=zoo:cnn_s0`` is one word; in a name, ``=`` is
  allowed for ``file:`` queries, but a segment reading ``key=`` starts the options).
- A name may hold colons (``lpips:alex``, ``model:zoo:cnn_l2_s0@features.4``); the options start at
  the first colon followed by ``key=``. Keys are Python identifiers; a key may appear once.
- Numbers are Python's (``4``, ``-0.5``, ``1e-3``, ``inf``, ``nan``); ``true``/``false``/``none``
  (any case; ``null`` too) are booleans and None; other words are strings; text with spaces or
  the special characters is written in double quotes with JSON escapes.
- Spaces around the punctuation are ignored. :func:`format_spec` writes the canonical form (no
  spaces), and ``format_spec(parse_spec(s)) == s`` for every canonical ``s``.

A malformed spec raises :class:`~repalign.errors.SpecError`, whose message shows the spec with a
caret under the offending character.

Example:
    >>> parse_spec("jitter:d=[1,2]")
    Spec(name='jitter', options={'d': [1, 2]}, parts=())
    >>> format_spec(parse_spec("mean(ssim, lpips:vgg):levels=2"))
    'mean(ssim,lpips:vgg):levels=2'
    >>> split_spec("blend:alpha=0.5")
    ('blend', {'alpha': 0.5})
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from repalign.errors import ConfigError, SpecError

__all__ = [
    "Spec",
    "SpecError",
    "Value",
    "format_spec",
    "format_value",
    "parse_spec",
    "parse_value",
    "split_spec",
]

Value: TypeAlias = bool | int | float | str | list["Value"] | None

_SPACE = re.compile(r"\s*")
_NAME_WORD = re.compile(r"[^\s,:()\[\]\"]+")
_VALUE_WORD = re.compile(r"[^\s,=()\[\]\"]+")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPTION_START = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*=")
_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?:inf|nan)")
_KEYWORDS: dict[str, Value] = {"true": True, "false": False, "none": None, "null": None}
_VALUE_HELP = 'a value (a number, true/false/none, a word, "quoted text" or a [list])'


@dataclass
class Spec:
    """A parsed spec: a registry name, its options in the order given, and its parts.

    Attributes:
        name: the registry name (may contain colons: ``"lpips:alex"``).
        options: ``key -> value`` (numbers, booleans, None, strings, lists).
        parts: the specs between parentheses (``mean(ssim,lpips)`` has two).
    """

    name: str
    options: dict[str, Value] = field(default_factory=dict)
    parts: tuple[Spec, ...] = ()

    def __str__(self) -> str:
        return format_spec(self)


class _Reader:
    """A cursor over one spec string that raises :class:`SpecError` at its position."""

    def __init__(self, text: str, kind: str) -> None:
        self.text, self.kind, self.pos = text, kind, 0

    def fail(self, expected: str, pos: int | None = None) -> SpecError:
        return SpecError(self.text, self.pos if pos is None else pos, expected, self.kind)

    def skip(self) -> None:
        m = _SPACE.match(self.text, self.pos)
        self.pos = m.end() if m else self.pos

    def end(self, expected: str) -> None:
        self.skip()
        if self.pos != len(self.text):
            raise self.fail(expected)

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos : self.pos + 1]

    def take(self, char: str) -> bool:
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def expect(self, char: str, expected: str) -> None:
        if not self.take(char):
            raise self.fail(expected)

    def match(self, pattern: re.Pattern[str], expected: str) -> str:
        self.skip()
        m = pattern.match(self.text, self.pos)
        if not m:
            raise self.fail(expected)
        self.pos = m.end()
        return m.group()

    def spec(self) -> Spec:
        words = [self.match(_NAME_WORD, "a name")]
        while self.peek() == ":" and not _OPTION_START.match(self.text, self.pos + 1):
            self.pos += 1
            words.append(self.match(_NAME_WORD, "a name or key=value after ':'"))
        parts: list[Spec] = []
        if self.take("("):
            parts.append(self.spec())
            while self.take(","):
                parts.append(self.spec())
            self.expect(")", "',' or ')' after a part")
        options: dict[str, Value] = {}
        if self.take(":"):
            self.options(options)
        return Spec(":".join(words), options, tuple(parts))

    def options(self, into: dict[str, Value]) -> None:
        while True:
            self.skip()
            at = self.pos
            key = self.match(_KEY, "an option name (a Python identifier)")
            if key in into:
                raise self.fail(f"a new option name ({key!r} was already given)", at)
            self.expect("=", "'=' after the option name")
            into[key] = self.value()
            # a comma followed by 'key=' continues the options; otherwise it ends them (the next
            # part of a 'mean(a:k=1,b)')
            if self.peek() != "," or not _OPTION_START.match(self.text, self.pos + 1):
                return
            self.pos += 1

    def value(self) -> Value:
        char = self.peek()
        if char == "[":
            self.pos += 1
            items: list[Value] = []
            if self.take("]"):
                return items
            items.append(self.value())
            while self.take(","):
                items.append(self.value())
            self.expect("]", "',' or ']' in a list")
            return items
        if char == '"':
            return self.quoted()
        return _word_value(self.match(_VALUE_WORD, _VALUE_HELP))

    def quoted(self) -> str:
        start = self.pos
        m = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL).match(self.text, start)
        if not m:
            raise self.fail("a closing '\"'", len(self.text))
        try:
            out = json.loads(m.group())
        except ValueError as exc:
            raise self.fail(f"quoted text with valid JSON escapes ({exc.args[0]})", start) from None
        self.pos = m.end()
        return str(out)


def _word_value(word: str) -> Value:
    low = word.lower()
    if low in _KEYWORDS:
        return _KEYWORDS[low]
    if _INT.fullmatch(word):
        return int(word)
    if _FLOAT.fullmatch(low):
        return float(low)
    return word


def parse_spec(text: str, kind: str = "spec") -> Spec:
    """Read a spec string (see the module doc for the grammar).

    Args:
        text: the spec, e.g. ``"jitter:d=[1,2]"``.
        kind: what the spec describes ("transform", "perceptual distance", ...), for messages.

    Raises:
        SpecError: the text does not follow the grammar; the message points at the character.

    Example:
        >>> parse_spec("lp_norm:p=6,weight=1e-3").options
        {'p': 6, 'weight': 0.001}
    """
    if not isinstance(text, str):
        raise ConfigError(f"A {kind} spec string was expected, received {type(text).__name__}.")
    reader = _Reader(text, kind)
    spec = reader.spec()
    reader.end("the end of the spec, ':' before options, or ',' between them")
    return spec


def parse_value(text: str, kind: str = "option value") -> Value:
    """Read one value of the grammar: ``"4"`` -> 4, ``"[1,2]"`` -> [1, 2], ``"true"`` -> True.

    Example:
        >>> parse_value("[0.5, true, none, abc]")
        [0.5, True, None, 'abc']
    """
    reader = _Reader(text, kind)
    value = reader.value()
    reader.end("the end of the value")
    return value


def format_value(value: Any) -> str:
    """The canonical text of a value; ``parse_value(format_value(v)) == v``.

    Raises:
        ConfigError: a value the grammar cannot hold (a dict, an array, an object).
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(float(value))
    if isinstance(value, str):
        plain = bool(_VALUE_WORD.fullmatch(value)) and _word_value(value) == value
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    raise ConfigError(
        f"A spec option value is a number, boolean, None, string or list; received "
        f"{type(value).__name__}. Pass such options as keyword arguments instead."
    )


def format_spec(spec: Spec) -> str:
    """The canonical text of a spec (no spaces); ``parse_spec(format_spec(s)) == s``.

    Example:
        >>> format_spec(Spec("jitter", {"d": [1, 2]}))
        'jitter:d=[1,2]'
    """
    text = spec.name
    if spec.parts:
        text += "(" + ",".join(format_spec(p) for p in spec.parts) + ")"
    if spec.options:
        text += ":" + ",".join(f"{k}={format_value(v)}" for k, v in spec.options.items())
    return text


def split_spec(spec: Any, kind: str = "option") -> tuple[Any, dict[str, Any]]:
    """``(name_or_object, options)`` from any way a piece may be given.

    Accepts a spec string (the grammar), a :class:`Spec`, a pair ``(name, {options})``, a mapping
    ``{"name": ..., **options}``, or an object (a callable, ...) passed through with no options.

    Raises:
        SpecError: a malformed string, or one with parts (``name(a,b)``) where none are taken.
        ConfigError: a mapping without a ``"name"`` key.

    Example:
        >>> split_spec(("halving", {"blocks": 8}))
        ('halving', {'blocks': 8})
    """
    if isinstance(spec, str):
        spec = parse_spec(spec, kind)
    if isinstance(spec, Spec):
        if spec.parts:
            text = format_spec(spec)
            raise SpecError(text, text.index("("), f"a {kind} without parts in parentheses", kind)
        return spec.name, dict(spec.options)
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Mapping):
        return spec[0], dict(spec[1])
    if isinstance(spec, Mapping):
        if "name" not in spec:
            raise ConfigError(
                f"A {kind} spec given as a mapping needs a 'name' key, received keys {sorted(spec)}."
            )
        return spec["name"], {k: v for k, v in spec.items() if k != "name"}
    return spec, {}
