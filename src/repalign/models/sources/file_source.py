"""``file:PATH?arch=ARCH&KEY=VALUE``: weights from a checkpoint file, on a named architecture.

- ``PATH``: a file written by ``torch.save`` (a state dict, a dict holding one, a robustness-library
  checkpoint) or a ``.safetensors`` file; relative paths start from the current folder.
- ``arch``: the architecture the weights belong to, as a model spec without weights: a bare name
  is a torchvision one (``arch=resnet50``), others carry their source (``arch=timm:resnet50``).
  It may also be given as the ``arch=`` keyword of :func:`repalign.create_model`.
- other ``KEY=VALUE`` pairs go to the architecture's constructor (``num_classes=10``); values are
  read as in the spec grammar (numbers, ``true``/``false``/``none``, lists; docs/specs.md).

The weights are always the file's (``pretrained`` does not apply). Examples:
``file:ckpt/imagenet_l2_3_0.pt?arch=resnet50`` (robustness library, ImageNet),
``file:runs/net.safetensors?arch=timm:resnet18&num_classes=5``. Without ``arch``, a checkpoint
that holds a whole pickled module is used as is (only with ``trust_checkpoint=True``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from torch import nn

from repalign.errors import ConfigError
from repalign.models.model import Model, Preprocess
from repalign.models.sources.base import ModelSource, parse_spec, source_meta
from repalign.models.sources.checkpoint import apply_checkpoint, read_checkpoint
from repalign.specs import parse_value

__all__ = ["SOURCE", "parse_file_spec"]


def parse_file_spec(name: str) -> tuple[Path, dict[str, Any]]:
    """Split ``PATH?k=v&...`` into the path and the converted options.

    Example:
        >>> parse_file_spec("ckpt.pt?arch=resnet50&num_classes=10")
        (PosixPath('ckpt.pt'), {'arch': 'resnet50', 'num_classes': 10})
    """
    path, _, query = name.partition("?")
    if not path:
        raise ConfigError(f"file:{name} has no path; write file:PATH?arch=ARCH.")
    options: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key in options:
            raise ConfigError(f"file:{name} gives {key!r} twice.")
        options[key] = parse_value(value, f"file: option {key}") if value else value
    return Path(path), options


def _create(
    name: str,
    *,
    pretrained: bool = True,
    trust_checkpoint: bool = False,
    arch: str | None = None,
    **kwargs: Any,
) -> Model:
    from repalign.models.sources import SOURCES

    path, options = parse_file_spec(name)
    spec_arch = options.pop("arch", None)
    if arch is not None and spec_arch is not None and str(arch) != str(spec_arch):
        raise ConfigError(f"file:{name} names arch={spec_arch!r} but arch={arch!r} was also passed.")
    arch = arch or (str(spec_arch) if spec_arch is not None else None)
    for key in set(options) & set(kwargs):
        if options[key] != kwargs[key]:
            raise ConfigError(f"file:{name} sets {key}={options[key]!r} but {key}={kwargs[key]!r} was passed.")
    kwargs = {**options, **kwargs}

    if arch is None:
        obj = read_checkpoint(path, trust_checkpoint=trust_checkpoint)
        if not isinstance(obj, nn.Module):
            raise ConfigError(
                f"file:{path} holds weights without an architecture; name it: "
                f"'file:{path}?arch=resnet50' (torchvision) or 'file:{path}?arch=timm:resnet50', "
                "or pass arch=... to create_model."
            )
        meta = source_meta("file", name, architecture=type(obj).__name__, pretrained=True,
                           training=f"from checkpoint {path.name} (pickled module)", checkpoint=str(path))
        return Model(obj, Preprocess(), spec=f"file:{name}", input_size=(3, 224, 224), meta=meta)

    arch_spec = arch if ":" in arch else f"torchvision:{arch}"
    source_name, arch_name = parse_spec(arch_spec)
    if source_name == "file":
        raise ConfigError(f"arch={arch!r} must name an architecture, not another file.")
    model = SOURCES.get(source_name).create(arch_name, pretrained=False, **kwargs)
    model.meta.update(source_meta("file", name, architecture=arch_spec, pretrained=True))
    model.spec = f"file:{name}"
    return apply_checkpoint(model, path, trust_checkpoint=trust_checkpoint)


SOURCE = ModelSource(
    name="file",
    create=_create,
    names=lambda: [],
    description="a checkpoint file on a named architecture: PATH?arch=resnet50 (robustness layout too)",
)
