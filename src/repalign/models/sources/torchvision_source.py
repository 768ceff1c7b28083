"""``torchvision:NAME[.WEIGHTS]``: torchvision's image classifiers.

``NAME`` is any classification architecture of ``torchvision.models`` (``resnet50``, ``vit_b_16``);
``WEIGHTS`` an entry of its weights enum (``IMAGENET1K_V2``); without it ``pretrained=True`` uses
the enum's ``DEFAULT``. Preprocessing (mean, std, crop size) comes from the weights' transforms,
also for random initialisation.
"""

from __future__ import annotations

from typing import Any

from repalign.errors import ConfigError
from repalign.models.model import Model, Preprocess
from repalign.models.sources.base import ModelSource, check_known, source_meta, split_tag
from repalign.models.sources.offline import missing_torch_weights, torch_hub_file

__all__ = ["SOURCE"]


def _architectures() -> list[str]:
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models))


def _names() -> list[str]:
    import torchvision

    names = []
    for arch in _architectures():
        names.append(arch)
        try:
            enum = torchvision.models.get_model_weights(arch)
        except (ValueError, KeyError):
            continue
        names.extend(f"{arch}.{w.name}" for w in enum)
    return names


def _weights_enum(arch: str) -> Any:
    import torchvision

    try:
        return torchvision.models.get_model_weights(arch)
    except (ValueError, KeyError):
        return None


def _create(name: str, *, pretrained: bool = True, **kwargs: Any) -> Model:
    import torchvision

    arch, tag = split_tag(name)
    check_known("torchvision model", arch, _architectures())
    enum = _weights_enum(arch)
    weights = None
    if enum is not None:
        if tag is not None:
            check_known(f"weights of torchvision:{arch}", tag, [w.name for w in enum])
            weights = enum[tag]
        else:
            weights = enum.DEFAULT
    elif pretrained or tag:
        raise ConfigError(f"torchvision:{arch} has no pretrained weights; use pretrained=False.")
    if tag is not None and not pretrained:
        raise ConfigError(
            f"torchvision:{name} names pretrained weights but pretrained=False; drop the "
            f"'.{tag}' suffix for a random initialisation."
        )

    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    crop = 224
    if weights is not None:
        tf = weights.transforms()
        mean, std = tuple(tf.mean), tuple(tf.std)
        crop = int(tf.crop_size[0])

    if pretrained:
        assert weights is not None
        if torch_hub_file(weights.url) is None:
            raise missing_torch_weights(f"torchvision:{arch}.{weights.name}", weights.url)
        network = torchvision.models.get_model(arch, weights=weights, **kwargs)
    else:
        network = torchvision.models.get_model(arch, weights=None, **kwargs)

    extra: dict[str, Any] = {}
    if pretrained and weights is not None:
        extra["accuracy"] = weights.meta.get("_metrics")
        extra["recipe"] = weights.meta.get("recipe")
    meta = source_meta(
        "torchvision",
        name,
        architecture=arch,
        pretrained=pretrained,
        weights=weights.name if pretrained and weights is not None else None,
        training=f"torchvision weights {weights.name}" if pretrained and weights is not None else None,
        **extra,
    )
    return Model(
        network,
        Preprocess(mean, std, size=(crop, crop)),
        spec=f"torchvision:{name}",
        input_size=(3, crop, crop),
        meta=meta,
    )


SOURCE = ModelSource(
    name="torchvision",
    create=_create,
    names=_names,
    description="torchvision classification models; NAME[.WEIGHTS], e.g. resnet50.IMAGENET1K_V2",
)
