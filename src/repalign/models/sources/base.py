"""What every model source provides, and the helpers they share (spec parsing, metadata).

A source turns a name (the part of ``"source:name"`` after the colon) into a :class:`Model` with
the right preprocessing, ``input_size`` and ``meta``, and lists the names it offers.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from repalign._registry import unknown_name_message
from repalign.errors import ConfigError, UnknownNameError
from repalign.models.model import Model

__all__ = ["ModelSource", "check_known", "parse_spec", "source_meta", "split_tag"]


@dataclass(frozen=True)
class ModelSource:
    """One place models come from.

    Attributes:
        name: the source prefix in specs (``"torchvision"``).
        create: ``create(name, *, pretrained, trust_checkpoint, **kwargs) -> Model``; the returned
            model may still be in training mode and on the CPU (the factory finishes it).
        names: ``names() -> list[str]``: every name the installed library offers (no prefix).
        description: one line for listings and docs.
        extra: the repalign extra that installs the backend (``None`` when it is a core one).
    """

    name: str
    create: Callable[..., Model]
    names: Callable[[], list[str]]
    description: str
    extra: str | None = None

    def list(self, pattern: str = "*") -> list[str]:
        """Names of this source matching a glob ``pattern`` (without the ``source:`` prefix)."""
        return sorted(n for n in self.names() if fnmatch.fnmatchcase(n, pattern))


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``"source:name"`` at the first colon.

    Example:
        >>> parse_spec("timm:resnet50.a1_in1k")
        ('timm', 'resnet50.a1_in1k')
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(
            f"A model spec is 'source:name' (e.g. 'torchvision:resnet18', 'zoo:cnn_standard_s0'), "
            f"received {spec!r}; see repalign.list_models() for the names on this machine."
        )
    source, name = spec.split(":", 1)
    if not source or not name:
        raise ConfigError(f"Model spec {spec!r} has an empty source or name; write 'source:name'.")
    return source, name


def split_tag(name: str) -> tuple[str, str | None]:
    """Split ``"arch.tag"`` at the first dot into the architecture and the weights tag.

    Example:
        >>> split_tag("resnet50.IMAGENET1K_V2"), split_tag("resnet50")
        (('resnet50', 'IMAGENET1K_V2'), ('resnet50', None))
    """
    arch, _, tag = name.partition(".")
    return arch, (tag or None)


def check_known(kind: str, name: str, valid: Sequence[str]) -> None:
    """Raise :class:`UnknownNameError` (valid names, closest matches) if ``name`` is not valid."""
    if name not in set(valid):
        raise UnknownNameError(unknown_name_message(kind, name, sorted(valid)))


def source_meta(
    source: str,
    name: str,
    *,
    architecture: str,
    pretrained: bool,
    weights: str | None = None,
    training: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The ``meta`` every source fills in (the factory adds ``weights_sha256``)."""
    return {
        "source": source,
        "name": name,
        "spec": f"{source}:{name}",
        "architecture": architecture,
        "pretrained": pretrained,
        "weights": weights,
        "training": training if training is not None else ("unknown" if pretrained else "random init"),
        **extra,
    }
