"""``timm:NAME[.TAG]``: any timm model (``resnet50``, ``vit_small_patch16_224.augreg_in21k``).

Preprocessing comes from the model's pretrained config (``timm.data.resolve_data_config``).
Pretrained weights are looked up in the Hugging Face cache (``hf_hub_id``) and torch's checkpoint
folder (``url``) and handed to timm as a local file, so timm never opens a connection.
"""

from __future__ import annotations

from typing import Any

from repalign._deps import require
from repalign.errors import ConfigError
from repalign.models.model import Model, Preprocess
from repalign.models.sources.base import ModelSource, check_known, source_meta, split_tag
from repalign.models.sources.offline import (
    find_hf_file,
    hub_offline,
    missing_hf_weights,
    missing_torch_weights,
    torch_hub_file,
)

__all__ = ["SOURCE"]

_HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _timm() -> Any:
    return require("timm", "core", purpose="timm models")


def _names() -> list[str]:
    timm = _timm()
    return sorted(set(timm.list_models()) | set(timm.list_models(pretrained=True)))


def _local_weights(name: str, cfg: dict[str, Any]) -> str:
    """Path of the cached weight file for the pretrained config ``cfg``; raises when absent."""
    hub_id = cfg.get("hf_hub_id")
    url = cfg.get("url")
    if cfg.get("file"):
        return str(cfg["file"])
    if hub_id:
        repo, _, revision = str(hub_id).partition("@")
        files = (cfg["hf_hub_filename"],) if cfg.get("hf_hub_filename") else _HF_WEIGHT_FILES
        found = find_hf_file(repo, files, revision=revision or None)
        if found is not None:
            return str(found)
    if url:
        cached = torch_hub_file(str(url))
        if cached is not None:
            return str(cached)
    if hub_id:
        files = (cfg["hf_hub_filename"],) if cfg.get("hf_hub_filename") else _HF_WEIGHT_FILES
        raise missing_hf_weights(f"timm:{name}", str(hub_id).partition("@")[0], files)
    if url:
        raise missing_torch_weights(f"timm:{name}", str(url))
    raise ConfigError(f"timm:{name} has no pretrained weights; use pretrained=False.")


def _create(name: str, *, pretrained: bool = True, **kwargs: Any) -> Model:
    timm = _timm()
    arch, tag = split_tag(name)
    check_known("timm model", arch, timm.list_models())
    if tag is not None:
        check_known(f"pretrained tag of timm:{arch}", name, timm.list_models(arch, pretrained=True))
        if not pretrained:
            raise ConfigError(
                f"timm:{name} names pretrained weights but pretrained=False; drop '.{tag}' for a "
                "random initialisation."
            )
    with hub_offline():
        if pretrained:
            cfg = timm.models.get_pretrained_cfg(name)
            if cfg is None:
                raise ConfigError(f"timm:{name} has no pretrained weights; use pretrained=False.")
            path = _local_weights(name, cfg.to_dict())
            network = timm.create_model(
                name, pretrained=True, pretrained_cfg_overlay={"file": path}, **kwargs
            )
        else:
            network = timm.create_model(name, pretrained=False, **kwargs)
    data = timm.data.resolve_data_config({}, model=network)
    c, h, w = (int(v) for v in data["input_size"])
    if kwargs.get("img_size") is not None:  # timm keeps the pretrained config's size in data
        size = kwargs["img_size"]
        h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    pcfg = dict(getattr(network, "pretrained_cfg", {}) or {})
    meta = source_meta(
        "timm",
        name,
        architecture=arch,
        pretrained=pretrained,
        weights=pcfg.get("tag") if pretrained else None,
        training=f"timm weights {arch}.{pcfg.get('tag')}" if pretrained else None,
        timm_version=timm.__version__,
    )
    return Model(
        network,
        Preprocess(tuple(data["mean"]), tuple(data["std"]), size=(h, w)),
        spec=f"timm:{name}",
        input_size=(c, h, w),
        meta=meta,
    )


SOURCE = ModelSource(
    name="timm",
    create=_create,
    names=_names,
    description="timm models; NAME[.TAG], e.g. resnet50.a1_in1k, vit_small_patch16_224",
)
