"""Batches for feature extraction: image files decoded in DataLoader workers, or slices of
images already in memory; pinned and copied without blocking when the model is on a GPU.

A folder given to :func:`~repalign.features.extract_features` is not decoded up front: a
:class:`FolderImages` dataset decodes each file when its batch is asked for, in ``num_workers``
worker processes that run while the model computes the previous batches.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from repalign.data.loaders import list_image_files, read_image
from repalign.data.transforms import convert_channels
from repalign.errors import ConfigError, DataFormatError

__all__ = ["FolderImages", "batches", "default_workers"]


class FolderImages(Dataset[tuple[torch.Tensor, bool]]):
    """The images of a folder, as :func:`~repalign.load_stimuli` reads them, one per item.

    Args:
        root: the folder (every non-hidden file below it, sorted by relative path).
        channels: 1 or 3: the channels every image is converted to.
        limit: only the first ``limit`` files.

    Items are ``(image (C, H, W) float32 in [0, 1], had_alpha)``; ``ids`` are the relative paths.
    """

    def __init__(self, root: str | Path, channels: int, limit: int | None = None) -> None:
        self.root = Path(root)
        files = list_image_files(self.root)
        self.files = files[:limit] if limit is not None else files
        self.ids = [f.as_posix() for f in self.files]
        self.channels = channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, bool]:
        arr, alpha = read_image(self.root / self.files[i], self.ids[i])
        t = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)
        return convert_channels(t, self.channels)[0], alpha  # a view: the batch stack copies once


def default_workers() -> int:
    """Decoding workers used by default: one per spare core (cores - 1), at most 8."""
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def _collate(items: list[tuple[torch.Tensor, bool]]) -> tuple[torch.Tensor, int]:
    shapes = {tuple(t.shape) for t, _ in items}
    if len(shapes) > 1:
        raise DataFormatError(
            f"images of one batch differ in size {sorted(shapes)}; a folder streamed to "
            "extract_features needs images of one size (resize them, or load them with "
            "load_stimuli(folder, size=...) and pass the Stimuli)."
        )
    # default_collate stacks straight into shared memory in a worker (no copy to send it back)
    return default_collate([t for t, _ in items]), sum(a for _, a in items)


def batches(
    source: torch.Tensor | FolderImages, batch_size: int, device: torch.device, *,
    num_workers: int = 0, channels_last: bool = False,
) -> Iterator[tuple[int, torch.Tensor]]:
    """``(start, batch on device)`` over ``source`` in order.

    Args:
        source: (N, C, H, W) images in memory, or a :class:`FolderImages`.
        batch_size: images per batch.
        device: where the batches go; on CUDA they are pinned and copied with ``non_blocking``.
        num_workers: decoding processes for a folder (0: decode in this process).
        channels_last: batches in ``torch.channels_last`` memory format.
    """
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ConfigError(f"num_workers must be an int >= 0, received {num_workers!r}.")
    pin = device.type == "cuda"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if isinstance(source, torch.Tensor):
        for start in range(0, source.shape[0], batch_size):
            xb = source[start : start + batch_size]
            if pin:
                xb = xb.pin_memory()
            yield start, xb.to(device, non_blocking=pin).contiguous(memory_format=fmt)
        return
    loader: DataLoader[Any] = DataLoader(
        source, batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=_collate, pin_memory=pin, persistent_workers=False,
        prefetch_factor=2 if num_workers else None,
    )
    alpha = 0
    start = 0
    for xb, n_alpha in loader:
        alpha += n_alpha
        yield start, xb.to(device, non_blocking=pin).contiguous(memory_format=fmt)
        start += xb.shape[0]
    if alpha:
        warnings.warn(f"{alpha} image(s) in {str(source.root)!r} have an alpha channel, which was "
                      "dropped.", stacklevel=3)
