"""``hf:REPO`` / ``hf:MODEL_TYPE`` / ``hf:FOLDER``: transformers vision models (``hf`` extra).

- ``hf:google/vit-base-patch16-224`` (a hub repository id): weights and config from the local
  Hugging Face cache (never downloaded). Image classifiers keep their head (output: logits); CLIP
  repositories give the vision tower with its projection (output: the image embedding); other
  multi-modal repositories give their vision tower.
- ``hf:vit``, ``hf:dinov2``, ``hf:clip_vision_model`` (a transformers ``model_type``): a random
  initialisation from the default config, overridable with ``config={...}``; needs no file at all.
- ``hf:path/to/folder``: a folder written by ``save_pretrained``.

The network wraps the transformers model under the attribute ``model`` (so layer names read
``model.encoder.layer.5``); its forward takes pixels and returns ``logits``, ``image_embeds`` or
``pooler_output`` (the first of these the model produces), else the first token of
``last_hidden_state``. Preprocessing comes from the repository's ``preprocessor_config.json``,
else from the config's ``image_size`` and the usual mean/std of the model type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from repalign._deps import require
from repalign.errors import ConfigError, WeightsUnavailableError
from repalign.models.model import Model, Preprocess
from repalign.models.sources.base import ModelSource, check_known, source_meta
from repalign.models.sources.offline import (
    find_hf_file,
    hf_cache_dir,
    hub_offline,
    missing_hf_weights,
)

__all__ = ["SOURCE", "HFVision"]

_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
_OPENAI = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
# default normalisation of each model type's image processor
_TYPE_STATS = {
    "vit": _HALF,
    "vit_mae": _IMAGENET,
    "siglip": _HALF,
    "siglip_vision_model": _HALF,
    "siglip2": _HALF,
    "siglip2_vision_model": _HALF,
    "clip": _OPENAI,
    "clip_vision_model": _OPENAI,
}


class HFVision(nn.Module):
    """A transformers vision model called on pixel tensors, returning one tensor.

    Args:
        model: a transformers ``PreTrainedModel`` taking ``pixel_values``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=x)
        for key in ("logits", "image_embeds", "pooler_output"):
            value = getattr(out, key, None)
            if isinstance(value, torch.Tensor):
                return value
        first_token: torch.Tensor = out.last_hidden_state[:, 0]
        return first_token


def _transformers() -> Any:
    return require("transformers", "hf", purpose="Hugging Face vision models")


def _vision_types() -> list[str]:
    _transformers()
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    types = set(MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES)
    types |= {k for k in CONFIG_MAPPING_NAMES if k.endswith("_vision_model")}
    return sorted(types)


def _cached_repos() -> list[str]:
    root = hf_cache_dir()
    if not root.is_dir():
        return []
    return sorted(
        p.name[len("models--"):].replace("--", "/") for p in root.glob("models--*") if p.is_dir()
    )


def _names() -> list[str]:
    return sorted(set(_vision_types()) | set(_cached_repos()))


def _read_json(name: str, filename: str, revision: str | None) -> dict[str, Any] | None:
    folder = Path(name)
    if folder.is_dir():
        path: Path | None = folder / filename if (folder / filename).is_file() else None
    else:
        path = find_hf_file(name, (filename,), revision=revision)
    if path is None:
        return None
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else None


def _size_of(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    if isinstance(value, dict):
        if "height" in value and "width" in value:
            return int(value["height"]), int(value["width"])
        edge = value.get("shortest_edge")
        if edge:
            return int(edge), int(edge)
    return None


def _preprocess(config: Any, processor: dict[str, Any] | None) -> tuple[Preprocess, tuple[int, int, int]]:
    vision = getattr(config, "vision_config", None) or config
    mean, std = _TYPE_STATS.get(str(getattr(config, "model_type", "")), _IMAGENET)
    size = _size_of(getattr(vision, "image_size", None)) or (224, 224)
    if processor:
        mean = tuple(processor.get("image_mean", mean))
        std = tuple(processor.get("image_std", std))
        size = _size_of(processor.get("crop_size")) or _size_of(processor.get("size")) or size
    channels = int(getattr(vision, "num_channels", len(mean)))
    return Preprocess(mean, std, size=size), (channels, size[0], size[1])


def _model_class(config: Any) -> tuple[Any, Any]:
    """The transformers class to build and the config to build it from."""
    tf = _transformers()
    archs = list(getattr(config, "architectures", None) or [])
    if any(a.endswith("ForImageClassification") for a in archs):
        return tf.AutoModelForImageClassification, config
    vision = getattr(config, "vision_config", None)
    if vision is not None:
        if config.model_type == "clip":
            vision.projection_dim = getattr(config, "projection_dim", vision.projection_dim)
            return tf.CLIPVisionModelWithProjection, vision
        cls = getattr(tf, type(config).__name__.replace("Config", "VisionModel"), None)
        if cls is None:
            raise ConfigError(
                f"repalign does not know the vision tower of model type {config.model_type!r}; "
                "load the tower yourself and wrap it in repalign.models.Model."
            )
        return cls, vision
    return tf.AutoModel, config


def _build(cls: Any, config: Any, **kwargs: Any) -> nn.Module:
    """A randomly initialised model of class ``cls`` (an Auto class or a concrete one)."""
    model: nn.Module = (cls.from_config(config, **kwargs) if cls.__name__.startswith("Auto")
                        else cls(config, **kwargs))
    return model


def _from_repo(name: str, pretrained: bool, revision: str | None, **kwargs: Any) -> tuple[nn.Module, Any]:
    tf = _transformers()
    local = Path(name).is_dir()
    where: dict[str, Any] = {} if local else {"cache_dir": str(hf_cache_dir()), "revision": revision}
    if not local and find_hf_file(name, ("config.json",), revision=revision) is None:
        raise missing_hf_weights(
            f"hf:{name}", name, ("config.json",), also=" or ".join(_WEIGHT_FILES) if pretrained else ""
        )
    if pretrained and not local and find_hf_file(name, _WEIGHT_FILES, revision=revision) is None:
        raise missing_hf_weights(f"hf:{name}", name, _WEIGHT_FILES)
    with hub_offline():
        try:
            config = tf.AutoConfig.from_pretrained(name, local_files_only=True, **where)
            cls, build_cfg = _model_class(config)
            if pretrained:
                model = cls.from_pretrained(name, local_files_only=True, **where, **kwargs)
            else:
                model = _build(cls, build_cfg, **kwargs)
        except OSError as exc:
            raise WeightsUnavailableError(
                f"hf:{name} could not be read from the local files ({exc}); put the repository in "
                f"the Hugging Face cache {hf_cache_dir()} or pass a folder written by save_pretrained."
            ) from exc
    return model, config


def _create(
    name: str,
    *,
    pretrained: bool = True,
    config: dict[str, Any] | Any | None = None,
    revision: str | None = None,
    **kwargs: Any,
) -> Model:
    tf = _transformers()
    is_repo = "/" in name or Path(name).is_dir()
    if is_repo:
        if config is not None:
            raise ConfigError(f"config= applies to a model type like hf:vit, not to the repository hf:{name}.")
        model, cfg = _from_repo(name, pretrained, revision, **kwargs)
        processor = _read_json(name, "preprocessor_config.json", revision)
    else:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

        check_known("transformers model type", name, sorted(CONFIG_MAPPING_NAMES))
        if pretrained:
            raise ConfigError(
                f"hf:{name} names an architecture, not weights: use pretrained=False for a random "
                "initialisation, or a repository id such as hf:google/vit-base-patch16-224."
            )
        if isinstance(config, tf.PretrainedConfig):
            cfg = config
        else:
            cfg = tf.AutoConfig.for_model(name, **dict(config or {}))
        cls, build_cfg = _model_class(cfg)
        model = _build(cls, build_cfg, **kwargs)
        processor = None
    preprocess, input_size = _preprocess(cfg, processor)
    meta = source_meta(
        "hf",
        name,
        architecture=type(model).__name__,
        pretrained=pretrained,
        weights=name if pretrained else None,
        training=f"Hugging Face weights {name}" if pretrained else None,
        model_type=getattr(cfg, "model_type", None),
        transformers_version=tf.__version__,
    )
    return Model(HFVision(model), preprocess, spec=f"hf:{name}", input_size=input_size, meta=meta)


SOURCE = ModelSource(
    name="hf",
    create=_create,
    names=_names,
    description="transformers vision models; a repo id (cached), a model type (random init) or a folder",
    extra="hf",
)
