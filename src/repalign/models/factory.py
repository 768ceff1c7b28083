"""``create_model`` and ``list_models``: models from every source, by ``"source:name"``."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from repalign._device import resolve_device
from repalign.errors import ConfigError, RepalignError
from repalign.models.model import Model, Preprocess
from repalign.models.sources import SOURCES, parse_spec
from repalign.models.sources.checkpoint import apply_checkpoint

__all__ = ["create_model", "expand_model_specs", "list_models"]

log = logging.getLogger(__name__)


def _image_size(value: int | tuple[int, int]) -> tuple[int, int]:
    size = (value, value) if isinstance(value, int) else tuple(value)
    if len(size) != 2 or any(int(s) < 1 for s in size):
        raise ConfigError(f"image_size must be a positive int or (H, W), received {value!r}.")
    return int(size[0]), int(size[1])


def create_model(
    spec: str,
    *,
    pretrained: bool = True,
    checkpoint: str | Path | None = None,
    device: str | torch.device | None = None,
    trust_checkpoint: bool = False,
    image_size: int | tuple[int, int] | None = None,
    **kwargs: Any,
) -> Model:
    """Build a :class:`Model` from ``"source:name"``: in eval mode, frozen, on ``device``.

    Sources: ``torchvision:resnet50[.IMAGENET1K_V2]``, ``timm:vit_small_patch16_224[.tag]``,
    ``open_clip:ViT-B-32[.laion2b_s34b_b79k]`` (image tower), ``hf:google/vit-base-patch16-224`` /
    ``hf:vit`` (transformers), ``file:path.pt?arch=resnet50`` (checkpoint, robustness layout
    included) and ``zoo:NAME`` (built-in digit models). Nothing is downloaded: pretrained weights
    missing from the local caches raise :class:`~repalign.errors.WeightsUnavailableError` at once,
    naming the file and the folder to put it in.

    Args:
        spec: ``"source:name"``; see :func:`list_models`.
        pretrained: load the pretrained weights (default) or keep a random initialisation.
        checkpoint: a checkpoint file loaded onto the architecture afterwards (implies
            ``pretrained=False`` for the source); same formats as the ``file`` source.
        device: ``"cpu"``, ``"cuda"``, ``"auto"``/None (CUDA when available).
        trust_checkpoint: allow checkpoints that need full unpickling (this runs code from the
            file: only for files you trust).
        image_size: resize inputs to this (H, W) inside the preprocessing instead of the model's
            native size (e.g. 64 to run a convolutional network fast on small images).
        **kwargs: passed to the source's constructor (``num_classes=10``, ``config={...}`` for
            ``hf:``, ``arch="resnet50"`` for ``file:``).

    Returns:
        The model; ``model.meta`` holds source, name, architecture, pretrained, weights,
        training and ``weights_sha256``.

    Raises:
        ConfigError: malformed spec or contradicting options.
        UnknownNameError: unknown source, architecture or weights tag (lists the valid ones).
        WeightsUnavailableError: pretrained weights or checkpoint file not on this machine.
        DataFormatError: a checkpoint that does not fit, or needs ``trust_checkpoint=True``.

    Example:
        >>> import repalign as ra
        >>> m = ra.create_model("torchvision:resnet18", pretrained=False, device="cpu")
        >>> m.input_size, m.meta["source"], m.training
        ((3, 224, 224), 'torchvision', False)
    """
    source_name, name = parse_spec(spec)
    source = SOURCES.get(source_name)
    dev = resolve_device(device)
    if checkpoint is not None and source_name == "file":
        raise ConfigError(f"{spec} already names a checkpoint file; drop checkpoint=.")
    if trust_checkpoint and source_name == "file":
        kwargs["trust_checkpoint"] = True
    model = source.create(name, pretrained=pretrained and checkpoint is None, **kwargs)
    if checkpoint is not None:
        apply_checkpoint(model, checkpoint, trust_checkpoint=trust_checkpoint)
    if image_size is not None:
        h, w = _image_size(image_size)
        pre = model.preprocess
        if not isinstance(pre, Preprocess):
            raise ConfigError(f"{spec} has no resizing preprocessing; image_size cannot apply.")
        model.preprocess = Preprocess(
            [float(v) for v in pre.mean.flatten()], [float(v) for v in pre.std.flatten()], size=(h, w)
        )
        model.input_size = (model.input_size[0], h, w)
    model.eval()
    model.requires_grad_(False)
    model.to(dev)
    model.meta["weights_sha256"] = model.weights_sha256()
    model.meta.setdefault("input_size", list(model.input_size))
    log.info("created %s on %s", model.spec, dev)
    return model


def list_models(pattern: str = "*") -> list[str]:
    """``"source:name"`` of every model the installed libraries offer, matching a glob.

    torchvision, timm, OpenCLIP and transformers list what the installed version offers (with
    weights tags as ``name.tag``); ``hf`` adds repositories found in the local Hugging Face cache;
    ``zoo`` lists the built-in models. A source whose optional library is missing lists nothing.
    ``file`` models are paths and are not listed.

    Example:
        >>> import repalign as ra
        >>> ra.list_models("torchvision:resnet1?")
        ['torchvision:resnet18']
    """
    from repalign.errors import MissingDependencyError

    names: list[str] = []
    source_pattern = pattern.split(":", 1)[0] if ":" in pattern else "*"
    for source_name in SOURCES.list(source_pattern):
        try:
            offered = SOURCES.get(source_name).names()
        except MissingDependencyError as exc:
            log.info("source %s not listed: %s", source_name, exc)
            continue
        names.extend(f"{source_name}:{n}" for n in offered)
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def expand_model_specs(specs: Iterable[str], where: str = "models") -> list[str]:
    """Model specs with glob patterns (``"zoo:*_s0"``) expanded by :func:`list_models`.

    Order is kept and repeats are dropped. ``file:`` specs are paths, never patterns: their ``?``
    starts the options (``file:ckpt.pt?arch=resnet50``), so they are kept as given; so are
    ``robustbench:`` specs with options (``robustbench:Engstrom2019Robustness?threat=Linf``).

    Args:
        specs: model specs and patterns.
        where: what the specs are called in error messages (a config key, a CLI option).

    Raises:
        ConfigError: a pattern matches no model (the message names ``where[i]``).

    Example:
        >>> expand_model_specs(["zoo:cnn_l2_*", "zoo:cnn_l2_s0"])
        ['zoo:cnn_l2_s0', 'zoo:cnn_l2_s1']
    """
    out: list[str] = []
    for i, spec in enumerate(specs):
        found = [spec]
        takes_options = spec.startswith("file:") or (spec.startswith("robustbench:") and "=" in spec)
        if not takes_options and any(ch in spec for ch in "*?["):
            try:
                found = list_models(spec)
            except RepalignError as exc:
                raise ConfigError(f"{where}[{i}]: {exc}") from exc
            if not found:
                source = spec.split(":", 1)[0] + ":*" if ":" in spec else ""
                raise ConfigError(f"{where}[{i}]: pattern {spec!r} matches no model; see "
                                  f"`repalign models list {source}`.")
        out.extend(f for f in found if f not in out)
    return out
