"""``dreamsim:VARIANT``: DreamSim embeddings (Fu et al. 2023), vision transformers fine-tuned
(LoRA) on human perceptual similarity judgements; needs the ``dreamsim`` extra.

Variants (the ``dreamsim`` package's types): ``ensemble`` (DINO ViT-B/16 + CLIP ViT-B/16 +
OpenCLIP ViT-B/16, the package default and best on human judgements), ``dino_vitb16``,
``clip_vitb32``, ``open_clip_vitb32``, ``synclr_vitb16``. The DINOv2 and patch variants are not
offered: the package resolves the DINOv2 hub repository's default branch over the network.

The network maps [0, 1] images resized to 224 x 224 (bilinear, antialiased; the package's own
preprocessing resizes PIL images bicubically) to the DreamSim embedding (mean-centred and
unit-normalised per image, as ``dreamsim(normalize_embeds=True)``); its last module is
``embedding`` (the default layer). DreamSim's distance is ``1 - cos`` of two embeddings
(the ``"dreamsim"`` perceptual distance).

Weights are never downloaded. They are read from :func:`dreamsim_dir` (``$REPALIGN_DREAMSIM_DIR``,
else ``$TORCH_HOME/hub/dreamsim``) or ``cache_dir=``, laid out as the package's release zips
unpack (e.g. ``clip_vitb32_pretrain.pth.tar`` and ``clip_vitb32_single_lora/``); the DINO-based
variants also need torch hub's copy of ``facebookresearch/dino`` (``facebookresearch_dino_main/``)
and its checkpoint ``checkpoints/dino_vitbase16_pretrain.pth`` in the same folder. Missing files
raise :class:`~repalign.errors.WeightsUnavailableError` naming each file and the zip to unpack.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from repalign._deps import require
from repalign.errors import ConfigError, WeightsUnavailableError
from repalign.models.model import Model, Preprocess
from repalign.models.sources.base import ModelSource, check_known, source_meta

__all__ = ["SOURCE", "VARIANTS", "DreamSimNet", "dreamsim_dir", "missing_files"]

log = logging.getLogger(__name__)

_DINO_HUB = ("facebookresearch_dino_main/hubconf.py", "checkpoints/dino_vitbase16_pretrain.pth")

#: variant -> files (relative to the weights folder) the package reads
VARIANTS: dict[str, tuple[str, ...]] = {
    "ensemble": ("dino_vitb16_pretrain.pth", "open_clip_vitb16_pretrain.pth.tar",
                 "clip_vitb16_pretrain.pth.tar", "ensemble_lora/adapter_config.json", *_DINO_HUB),
    "dino_vitb16": ("dino_vitb16_pretrain.pth", "dino_vitb16_single_lora/adapter_config.json", *_DINO_HUB),
    "clip_vitb32": ("clip_vitb32_pretrain.pth.tar", "clip_vitb32_single_lora/adapter_config.json"),
    "open_clip_vitb32": ("open_clip_vitb32_pretrain.pth.tar", "open_clip_vitb32_single_lora/adapter_config.json"),
    "synclr_vitb16": ("synclr_vit_b_16.pth", "synclr_vitb16_single_lora/adapter_config.json"),
}
IMAGE_SIZE = 224


def dreamsim_dir() -> Path:
    """The DreamSim weights folder: ``$REPALIGN_DREAMSIM_DIR``, else ``$TORCH_HOME/hub/dreamsim``."""
    env = os.environ.get("REPALIGN_DREAMSIM_DIR")
    return Path(env).expanduser() if env else Path(torch.hub.get_dir()) / "dreamsim"


def missing_files(variant: str, folder: Path) -> list[Path]:
    """The files of ``variant`` that are not in ``folder``."""
    return [folder / f for f in VARIANTS[variant] if not (folder / f).is_file()]


def _weights_error(variant: str, folder: Path, missing: list[Path]) -> WeightsUnavailableError:
    from dreamsim.config import dreamsim_weights

    url = dreamsim_weights[variant]
    hub = (" The DINO trunk also needs torch hub's facebookresearch/dino repository (the folder "
           "facebookresearch_dino_main, from torch.hub.load('facebookresearch/dino:main', "
           "'dino_vitb16') with TORCH_HOME pointing at a scratch folder) and its checkpoint "
           "checkpoints/dino_vitbase16_pretrain.pth, copied into the same folder."
           if "dino" in variant or variant == "ensemble" else "")
    return WeightsUnavailableError(
        f"DreamSim {variant} weights are not available offline and repalign does not download: "
        f"missing {', '.join(str(p) for p in missing)}. On a machine with network access, download "
        f"{url} and unzip it into {folder} (the folder is set by REPALIGN_DREAMSIM_DIR, by default "
        f"$TORCH_HOME/hub/dreamsim; or pass cache_dir=).{hub}"
    )


class DreamSimNet(nn.Module):
    """[0, 1] images (N, 3, 224, 224) -> DreamSim embeddings (N, D), through ``embedding``."""

    def __init__(self, perceptual: Any) -> None:
        super().__init__()
        self.model: Any = perceptual
        self.embedding = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for ext in self.model.extractor_list:  # the package moves its projections to ext.device
            ext.device = x.device
        emb: torch.Tensor = self.embedding(self.model.embed(x))
        return emb


def load_perceptual(variant: str, folder: Path) -> nn.Module:
    """The package's DreamSim model (LoRA weights applied), built offline from ``folder``."""
    dreamsim = require("dreamsim", "dreamsim", purpose="DreamSim")
    check_known("DreamSim variant", variant, list(VARIANTS))
    missing = missing_files(variant, folder)
    if missing:
        raise _weights_error(variant, folder, missing)
    # the package calls torch.hub.set_dir(folder); put back torch's own state afterwards (None
    # means "follow TORCH_HOME", which set_dir(get_dir()) would freeze)
    hub_dir = getattr(torch.hub, "_hub_dir", None)
    model: nn.Module
    try:  # the package prints its progress and points torch hub at the weights folder
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            # the package wraps its model in LoRA twice (get_peft_model, then from_pretrained)
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            model, _ = dreamsim.dreamsim(pretrained=True, device="cpu", cache_dir=str(folder),
                                         normalize_embeds=True, dreamsim_type=variant)
    finally:
        torch.hub._hub_dir = hub_dir
    return model


def _create(name: str, *, pretrained: bool = True, cache_dir: str | Path | None = None, **kwargs: Any) -> Model:
    if kwargs:
        raise ConfigError(f"dreamsim:{name}: unknown option(s) {sorted(kwargs)}; only cache_dir= is accepted.")
    if not pretrained:
        raise ConfigError(
            f"dreamsim:{name} has no random initialisation: DreamSim is defined by its fine-tuned "
            "weights. Use pretrained=True with the weights in the DreamSim folder."
        )
    folder = Path(cache_dir).expanduser() if cache_dir is not None else dreamsim_dir()
    perceptual = load_perceptual(name, folder)
    meta = source_meta(
        "dreamsim", name, architecture=f"DreamSim {name}", pretrained=True, weights=str(folder),
        training="fine-tuned (LoRA) on human perceptual similarity judgements (NIGHTS)",
        default_layers=["embedding"], penultimate="embedding",
    )
    return Model(DreamSimNet(perceptual), Preprocess((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), size=(IMAGE_SIZE, IMAGE_SIZE)),
                 spec=f"dreamsim:{name}", input_size=(3, IMAGE_SIZE, IMAGE_SIZE), meta=meta)


def _names() -> list[str]:
    require("dreamsim", "dreamsim", purpose="DreamSim")
    return sorted(VARIANTS)


SOURCE = ModelSource(
    name="dreamsim",
    create=_create,
    names=_names,
    description="DreamSim human-aligned embeddings; VARIANT, e.g. ensemble, clip_vitb32",
    extra="dreamsim",
)
