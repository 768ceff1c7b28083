"""Configuration files (TOML or YAML) and readable messages for their errors: the dotted key path
and the closest valid name. Shared by study and experiment configurations.

Example:
    >>> _dotted(("metamers", "regularizers", 1))
    'metamers.regularizers[1]'
"""

from __future__ import annotations

import difflib
import os
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, Union

from pydantic import BaseModel, PrivateAttr, ValidationError

from repalign.errors import ConfigError

__all__ = ["FileRelative", "format_errors", "load_config_as", "read_config_file"]


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside Optional/Union annotations."""
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return [t for a in typing.get_args(annotation) for t in _unwrap(a)]
    return [annotation]


def _type_at(root: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The annotation of the value at ``loc`` inside ``root`` (None when unknown)."""
    current: Any = root
    for part in loc:
        nxt = None
        for t in _unwrap(current):
            origin = typing.get_origin(t)
            if isinstance(t, type) and issubclass(t, BaseModel) and isinstance(part, str):
                field = t.model_fields.get(part)
                nxt = field.annotation if field is not None else None
            elif origin is list and isinstance(part, int):
                nxt = typing.get_args(t)[0]
            elif origin is dict and isinstance(part, str):
                nxt = typing.get_args(t)[1]
            if nxt is not None:
                break
        if nxt is None:
            return None
        current = nxt
    return current


def _valid_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    for t in _unwrap(_type_at(root, loc)):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return list(t.model_fields)
    return []


def _input_at(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _closest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}? " if close else ""


def _one_error(err: Any, data: Any, root: type[BaseModel]) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    path = _dotted(loc)
    if kind == "extra_forbidden":
        valid = _valid_keys(root, loc[:-1])
        return f"{path}: unknown key; {_closest(str(loc[-1]), valid)}Valid keys: {', '.join(valid)}."
    if kind == "missing":
        return f"{path}: required key is missing."
    if kind == "value_error":
        msg = str(err["msg"]).removeprefix("Value error, ")
        return f"{path}: {msg}." if loc else f"{msg}."
    received = _input_at(data, loc)
    got = f"received {type(received).__name__} {received!r}"
    if kind == "literal_error":
        choices = [a for t in _unwrap(_type_at(root, loc)) for a in typing.get_args(t)]
        names = [str(c) for c in choices]
        return f"{path}: {_closest(str(received), names)}expected one of {choices}, {got}."
    msg = str(err["msg"])
    return f"{path}: {msg[:1].lower()}{msg[1:]}, {got}."


def format_errors(exc: ValidationError, data: Any, root: type[BaseModel], *,
                  what: str = "study configuration") -> str:
    """One message listing every validation problem of ``data`` against ``root``, each with the
    dotted path of its key and, for a misspelt key or choice, the closest valid name."""
    lines = [_one_error(e, data, root) for e in exc.errors()]
    head = f"Invalid {what} ({len(lines)} problem{'s' if len(lines) > 1 else ''}):"
    return "\n  ".join([head, *lines])


def read_config_file(path: Path, what: str = "Study configuration") -> dict[str, Any]:
    """The mapping held by a ``.toml``, ``.yaml`` or ``.yml`` file.

    Raises:
        ConfigError: missing file, another suffix, a syntax error, or not a mapping at the top.
    """
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist; give a .toml or .yaml file.")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    try:
        if suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"{what} {path} has suffix {suffix!r}; expected .toml, .yaml or .yml.")
    except ConfigError:
        raise
    except Exception as exc:  # tomllib.TOMLDecodeError, yaml.YAMLError
        raise ConfigError(f"{what} {path} is not valid {suffix[1:].upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a mapping of sections, not {type(data).__name__}.")
    return data


class FileRelative(BaseModel):
    """Base of a configuration read from a file: ``base_dir`` (the file's folder, set by
    :func:`load_config_as`) and the paths resolved against it."""

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths are resolved against (the configuration file's)."""
        return self._base_dir

    def resolve_path(self, path: str) -> Path:
        """A path from the configuration, made absolute against :attr:`base_dir`."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self._base_dir / p).resolve()


C = TypeVar("C", bound=FileRelative)


def load_config_as(cls: type[C], source: str | os.PathLike[str] | Mapping[str, Any] | C, *,
                   base_dir: str | Path | None = None, what: str = "study configuration") -> C:
    """Read and validate a configuration of class ``cls``.

    Args:
        cls: the configuration's model.
        source: a ``.toml``/``.yaml`` path, a mapping, or a ``cls`` instance (returned as is).
        base_dir: folder for relative paths; default the file's folder (the current one for a
            mapping).
        what: what to call the configuration in messages.

    Raises:
        ConfigError: another kind of ``source``, an unreadable file, unknown keys, wrong types or
            values; the message lists every problem with its dotted key path.
    """
    if isinstance(source, cls):
        return source
    if isinstance(source, Mapping):
        data, where = dict(source), Path.cwd()
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser().resolve()
        data, where = read_config_file(path, what.capitalize()), path.parent
    else:
        raise ConfigError(f"A {what} is a file path, a mapping or a {cls.__name__}; received "
                          f"{type(source).__name__}.")
    try:
        cfg = cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, data, cls, what=what)) from None
    cfg._base_dir = Path(base_dir).resolve() if base_dir is not None else where
    return cfg
