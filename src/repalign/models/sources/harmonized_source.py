"""``harmonized:ARCH``: the harmonized models of Fel et al. (2022), ImageNet classifiers trained
with the neural harmonizer so that their feature importance follows human ClickMe maps.

The ``harmonization`` package is TensorFlow-only (installing it would replace this environment's
scientific stack), so this source builds the matching PyTorch architecture and loads the
published weights from a local file, never downloading:

============  ================================  ==========================================
``ARCH``      architecture                      weights file in :func:`harmonized_dir`
============  ================================  ==========================================
``vgg16``     ``torchvision.models.vgg16``      ``vgg16_harmonized.pt`` (a PyTorch state
                                                dict), or the published Keras file
                                                ``vgg16_harmonized.h5`` (or
                                                ``vgg16_harmonized``, the name Keras' cache
                                                gives it), converted on load with h5py
``vit_b16``   timm ``vit_base_patch16_224``     ``vit_b16_harmonized.pt``: a PyTorch state
                                                dict in timm's key names (converted
                                                beforehand; no converter is shipped)
============  ================================  ==========================================

Not supported: the harmonized ResNet50V2 (Keras' V2 puts the stride in the last unit of each
stage, unlike timm's ``resnetv2_50``), EfficientNetB0, ConvNeXt-tiny, MaxViT-tiny and LeViT
(their Keras implementations differ from the torchvision/timm ones in layer details that a
weight copy cannot bridge without their reference outputs).

Preprocessing is the package's ``preprocess_input``: [0, 1] RGB, ImageNet mean and standard
deviation, 224 x 224. The Keras VGG16 conversion transposes convolution kernels (HWIO -> OIHW) and
dense kernels, and reorders ``fc1``'s inputs from Keras' channels-last flattening to torch's
channels-first one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from repalign.errors import ConfigError, DataFormatError, WeightsUnavailableError
from repalign.models.model import IMAGENET_MEAN, IMAGENET_STD, Model, Preprocess
from repalign.models.sources.base import ModelSource, check_known, source_meta

__all__ = ["ARCHITECTURES", "SOURCE", "convert_keras_vgg", "harmonized_dir"]

log = logging.getLogger(__name__)

_URL = "https://storage.googleapis.com/serrelab/prj_harmonization/models/"


def _vgg16() -> nn.Module:
    import torchvision

    net: nn.Module = torchvision.models.vgg16()
    return net


def _vit_b16() -> nn.Module:
    import timm

    return timm.create_model("vit_base_patch16_224", pretrained=False)


#: ARCH -> (builder, description, published Keras file name or None when not convertible here)
ARCHITECTURES: dict[str, tuple[Callable[[], nn.Module], str, str | None]] = {
    "vgg16": (_vgg16, "torchvision vgg16", "vgg16_harmonized.h5"),
    "vit_b16": (_vit_b16, "timm vit_base_patch16_224", None),
}
_PUBLISHED = {"vgg16": "vgg16_harmonized.h5", "vit_b16": "vit-b16_harmonized.h5"}


def harmonized_dir() -> Path:
    """The weights folder: ``$REPALIGN_HARMONIZED_DIR``, else ``$TORCH_HOME/hub/harmonized``."""
    env = os.environ.get("REPALIGN_HARMONIZED_DIR")
    return Path(env).expanduser() if env else Path(torch.hub.get_dir()) / "harmonized"


def _keras_weights(path: Path) -> dict[str, Any]:
    import h5py

    found: dict[str, Any] = {}
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            root.visititems(lambda name, obj: found.__setitem__(name, obj[()])
                            if isinstance(obj, h5py.Dataset) else None)
    except OSError as exc:
        raise DataFormatError(f"{path} is not a readable Keras HDF5 file: {exc}") from exc
    return found


def _keras_tensor(weights: dict[str, Any], layer: str, kind: str, path: Path) -> torch.Tensor:
    hits = [k for k in weights if k.split("/")[-2:-1] == [layer] and k.split("/")[-1] == f"{kind}:0"]
    if len(hits) != 1:
        layers = sorted({k.split("/")[0] for k in weights})
        raise DataFormatError(
            f"{path}: expected one {layer}/{kind}:0 weight (the Keras VGG layout), found {len(hits)}; "
            f"layers in the file: {layers[:20]}."
        )
    return torch.from_numpy(weights[hits[0]])


def _vgg_part(model: nn.Module, name: str) -> nn.Sequential:
    part = getattr(model, name, None)
    if not isinstance(part, nn.Sequential):
        raise ConfigError(f"convert_keras_vgg needs a torchvision VGG (nn.Sequential 'features' and "
                          f"'classifier'); {type(model).__name__}.{name} is {type(part).__name__}.")
    return part


def convert_keras_vgg(path: str | Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """A torchvision VGG state dict from a Keras VGG HDF5 file (layers ``block<b>_conv<c>``,
    ``fc1``, ``fc2``, ``predictions``), read with h5py.

    Args:
        path: the Keras file (a saved model or its weights).
        model: the torchvision VGG the weights are for (its ``features`` tell the Keras names:
            every max-pool starts a new block).

    Returns:
        State dict for ``model``.

    Raises:
        DataFormatError: a missing layer or a shape that does not fit ``model``.
        ConfigError: ``model`` is not a torchvision VGG.
    """
    features, classifier = _vgg_part(model, "features"), _vgg_part(model, "classifier")
    path = Path(path)
    weights = _keras_weights(path)
    target = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    block, conv = 1, 0
    last_channels = 0
    for i, layer in enumerate(features):
        if isinstance(layer, nn.MaxPool2d):
            block, conv = block + 1, 0
        elif isinstance(layer, nn.Conv2d):
            conv += 1
            name = f"block{block}_conv{conv}"
            out[f"features.{i}.weight"] = _keras_tensor(weights, name, "kernel", path).permute(3, 2, 0, 1)
            out[f"features.{i}.bias"] = _keras_tensor(weights, name, "bias", path)
            last_channels = layer.out_channels
    dense = [i for i, m in enumerate(classifier) if isinstance(m, nn.Linear)]
    for j, (i, name) in enumerate(zip(dense, ("fc1", "fc2", "predictions"), strict=True)):
        kernel = _keras_tensor(weights, name, "kernel", path)
        if j == 0:  # Keras flattens (H, W, C); torch flattens (C, H, W)
            side = round((kernel.shape[0] / max(last_channels, 1)) ** 0.5)
            kernel = kernel.reshape(side, side, last_channels, -1).permute(3, 2, 0, 1).reshape(kernel.shape[1], -1)
        else:
            kernel = kernel.T
        out[f"classifier.{i}.weight"] = kernel
        out[f"classifier.{i}.bias"] = _keras_tensor(weights, name, "bias", path)
    bad = [k for k, v in out.items() if k not in target or tuple(v.shape) != tuple(target[k].shape)]
    if bad:
        k = bad[0]
        raise DataFormatError(
            f"{path}: {k} has shape {tuple(out[k].shape)} but the architecture needs "
            f"{tuple(target[k].shape) if k in target else 'no such weight'}; is this the VGG16 file?"
        )
    return {k: v.float().contiguous() for k, v in out.items()}


def _weights_file(arch: str, folder: Path) -> Path:
    torch_file = folder / f"{arch}_harmonized.pt"
    if torch_file.is_file():
        return torch_file
    keras = ARCHITECTURES[arch][2]
    if keras is not None:
        for candidate in (folder / keras, folder / keras.removesuffix(".h5")):
            if candidate.is_file():
                return candidate
    wanted = torch_file.name + (f" or the published Keras file {keras} (from {_URL}{keras})" if keras else
                                f" (a PyTorch state dict in the keys of {ARCHITECTURES[arch][1]}, converted "
                                f"from the published {_URL}{_PUBLISHED[arch]})")
    raise WeightsUnavailableError(
        f"Harmonized {arch} weights are not available offline and repalign does not download: "
        f"put {wanted} in {folder} (the folder is set by REPALIGN_HARMONIZED_DIR, by default "
        "$TORCH_HOME/hub/harmonized), or pass weights= to the file."
    )


def _load_state(path: Path, arch: str, net: nn.Module) -> dict[str, torch.Tensor]:
    if path.suffix == ".pt" or path.suffix == ".pth":
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise DataFormatError(f"Could not read harmonized {arch} weights {path}: {exc}") from exc
        weights: dict[str, torch.Tensor] = state.get("state_dict", state) if isinstance(state, dict) else state
        return weights
    if arch != "vgg16":
        raise ConfigError(f"harmonized:{arch} reads only PyTorch state dicts (.pt), received {path}.")
    return convert_keras_vgg(path, net)


def _create(name: str, *, pretrained: bool = True, weights: str | Path | None = None, **kwargs: Any) -> Model:
    check_known("harmonized architecture", name, list(ARCHITECTURES))
    if kwargs:
        raise ConfigError(f"harmonized:{name}: unknown option(s) {sorted(kwargs)}; only weights= is accepted.")
    build, description, _ = ARCHITECTURES[name]
    path = None
    if pretrained:  # find the file before building the network
        path = Path(weights).expanduser() if weights is not None else _weights_file(name, harmonized_dir())
        if not path.is_file():
            raise WeightsUnavailableError(f"Harmonized {name} weights file {path} does not exist.")
    net = build()
    if path is not None:
        state = _load_state(path, name, net)
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise DataFormatError(f"{path} does not fit {description}: {exc}") from exc
        log.info("harmonized:%s loaded from %s", name, path)
    elif weights is not None:
        raise ConfigError(f"harmonized:{name}: weights= contradicts pretrained=False.")
    meta = source_meta(
        "harmonized", name, architecture=description, pretrained=pretrained,
        weights=str(path) if path else None,
        training="ImageNet with the neural harmonizer (ClickMe human feature importance)" if pretrained else None,
    )
    return Model(net, Preprocess(IMAGENET_MEAN, IMAGENET_STD, size=(224, 224)), spec=f"harmonized:{name}",
                 input_size=(3, 224, 224), meta=meta)


SOURCE = ModelSource(
    name="harmonized",
    create=_create,
    names=lambda: sorted(ARCHITECTURES),
    description="harmonized ImageNet models (Fel et al. 2022) from local weights; vgg16, vit_b16",
)
