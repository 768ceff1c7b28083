"""DreamSim (Fu et al. 2023) as a perceptual distance: ``1 - cos`` of two DreamSim embeddings.

The embedding network is the ``dreamsim:VARIANT`` model source
(:mod:`repalign.models.sources.dreamsim_source`): ``"dreamsim"`` is the package's default
ensemble (DINO + CLIP + OpenCLIP ViT-B/16, LoRA fine-tuned on the NIGHTS human 2AFC
judgements), ``"dreamsim:clip_vitb32"`` and the other variants are single fine-tuned ViTs.
Images are [0, 1], resized to 224 x 224; 1-channel images are repeated to 3 channels.
Weights come from the DreamSim folder (``$REPALIGN_DREAMSIM_DIR``, else
``$TORCH_HOME/hub/dreamsim``, or ``cache_dir=``); nothing is downloaded and missing files raise
:class:`~repalign.errors.WeightsUnavailableError` naming them and the release zip to unpack.

Example:
    >>> d = DreamSim("clip_vitb32")                                   # doctest: +SKIP
    >>> d(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)).shape   # doctest: +SKIP
    torch.Size([2])
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from repalign.perceptual.base import Distance, Embedding, to_rgb

__all__ = ["DreamSim"]


class DreamSim(Distance):
    """DreamSim distance between [0, 1] images, differentiable (frozen weights).

    Args:
        variant: ``"ensemble"`` (default), ``"dino_vitb16"``, ``"clip_vitb32"``,
            ``"open_clip_vitb32"`` or ``"synclr_vitb16"``.
        cache_dir: the weights folder (default: the DreamSim folder, see the module doc).
    """

    def __init__(self, variant: str = "ensemble", *, cache_dir: str | Path | None = None) -> None:
        super().__init__()
        from repalign.models.factory import create_model

        self.variant = variant
        self.name = "dreamsim" if variant == "ensemble" else f"dreamsim:{variant}"
        self.model = create_model(f"dreamsim:{variant}", cache_dir=cache_dir, device="cpu")

    def embed(self, x: torch.Tensor) -> Embedding:
        """(N, D) DreamSim embeddings of images ``x`` (N, C, H, W)."""
        return self.model(to_rgb(x))

    def between(self, ex: Embedding, ey: Embedding) -> torch.Tensor:
        return 1.0 - F.cosine_similarity(ex, ey, dim=-1)
