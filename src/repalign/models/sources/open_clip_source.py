"""``open_clip:ARCH[.TAG]``: the image tower of an OpenCLIP model (needs the ``clip`` extra).

``ARCH`` is an OpenCLIP model config (``ViT-B-32``, ``RN50``, or one added with
``open_clip.add_model_config``); ``TAG`` a pretrained tag (``laion2b_s34b_b79k``, ``openai``).
With ``pretrained=True`` and no tag, the first tag OpenCLIP lists for the architecture is used.
The network is ``model.visual`` (inputs -> image embedding); preprocessing (size, mean, std)
comes from OpenCLIP's preprocess config of the chosen tag.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from repalign._deps import require
from repalign.errors import ConfigError, WeightsUnavailableError
from repalign.models.model import Model, Preprocess
from repalign.models.sources.base import ModelSource, check_known, source_meta, split_tag
from repalign.models.sources.offline import find_hf_file, hub_offline, missing_hf_weights

__all__ = ["SOURCE"]

log = logging.getLogger(__name__)

_HF_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def _open_clip() -> Any:
    return require("open_clip", "clip", purpose="OpenCLIP models")


def _names() -> list[str]:
    oc = _open_clip()
    return sorted(set(oc.list_models()) | {f"{m}.{t}" for m, t in oc.list_pretrained()})


def _url_cache() -> Path:
    return Path(os.path.expanduser("~/.cache/clip"))


def _local_weights(spec: str, cfg: dict[str, Any]) -> str:
    """The cached weight file of a pretrained config (Hugging Face cache or OpenCLIP's url cache)."""
    if cfg.get("file"):
        return str(cfg["file"])
    hub = str(cfg.get("hf_hub") or "")
    # OpenCLIP writes 'org/repo/file.bin', or 'org/repo/' for its default file names
    repo, filename = (hub.rstrip("/"), "") if hub.endswith("/") else os.path.split(hub)
    files: tuple[str, ...] = (filename,) if filename else _HF_FILES
    if filename.endswith((".bin", ".pth")):
        files = (filename[:-4] + ".safetensors", filename)
    if hub:
        found = find_hf_file(repo, files)
        if found is not None:
            return str(found)
    url = cfg.get("url") or ""
    if url:
        target = _url_cache() / os.path.basename(url)
        if target.is_file():
            return str(target)
    if hub:
        err = missing_hf_weights(spec, repo, files)
        if url:
            target = _url_cache() / os.path.basename(url)
            err.args = (f"{err.args[0]} Alternatively put {target.name} (from {url}) at {target}.",)
        raise err
    if url:
        raise WeightsUnavailableError(
            f"Pretrained weights for {spec} are not on this machine and repalign does not "
            f"download. Put {os.path.basename(url)} (from {url}) at {_url_cache() / os.path.basename(url)}, "
            "or use pretrained=False."
        )
    raise ConfigError(f"{spec} has no downloadable weights in OpenCLIP's registry.")


def _create(name: str, *, pretrained: bool = True, **kwargs: Any) -> Model:
    oc = _open_clip()
    arch, tag = split_tag(name)
    check_known("OpenCLIP architecture", arch, oc.list_models())
    tags = list(oc.list_pretrained_tags_by_model(arch))
    if tag is not None and not pretrained:
        raise ConfigError(
            f"open_clip:{name} names pretrained weights but pretrained=False; drop '.{tag}' for a "
            "random initialisation."
        )
    if pretrained:
        if tag is None:
            if not tags:
                raise ConfigError(f"open_clip:{arch} has no pretrained tags; use pretrained=False.")
            tag = tags[0]
            log.info("open_clip:%s: using pretrained tag %r", arch, tag)
        check_known(f"pretrained tag of open_clip:{arch}", tag, tags)
        cfg = dict(oc.get_pretrained_cfg(arch, tag))
        path = _local_weights(f"open_clip:{arch}.{tag}", cfg)
        pre = {k: cfg[k] for k in ("mean", "std") if k in cfg}
        kwargs.setdefault("force_quick_gelu", bool(cfg.get("quick_gelu", False)))
        with hub_offline():
            clip = oc.create_model(arch, pretrained=path, force_preprocess_cfg=pre or None, **kwargs)
    else:
        with hub_offline():
            clip = oc.create_model(arch, pretrained=None, **kwargs)
    pcfg = oc.get_model_preprocess_cfg(clip)
    size = pcfg.get("size", 224)
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    visual = clip.visual
    meta = source_meta(
        "open_clip",
        f"{arch}.{tag}" if pretrained else arch,
        architecture=arch,
        pretrained=pretrained,
        weights=tag if pretrained else None,
        training=f"OpenCLIP contrastive image-text ({tag})" if pretrained else None,
        embed_dim=getattr(visual, "output_dim", None),
    )
    return Model(
        visual,
        Preprocess(tuple(pcfg["mean"]), tuple(pcfg["std"]), size=(h, w)),
        spec=f"open_clip:{meta['name']}",
        input_size=(3, h, w),
        meta=meta,
    )


SOURCE = ModelSource(
    name="open_clip",
    create=_create,
    names=_names,
    description="OpenCLIP image towers; ARCH[.TAG], e.g. ViT-B-32.laion2b_s34b_b79k",
    extra="clip",
)
