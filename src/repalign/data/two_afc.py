"""Human two-alternative forced-choice (2AFC) judgements in the BAPPS layout, and their score.

Each item is a reference image and two distortions ``p0`` and ``p1``; ``h`` is the fraction of
human raters who judged ``p1`` closer to the reference (Zhang et al. 2018). A BAPPS folder holds
``ref/``, ``p0/``, ``p1/`` (images with the same file stems) and ``judge/`` (one ``.npy`` per
item holding ``h``).

A distance ``d`` (model, perceptual metric) is scored against the humans with the soft BAPPS
agreement ``(d0 < d1) (1 - h) + (d1 < d0) h + 0.5 (d0 == d1)`` per item: the expected share of
raters it agrees with.

Example:
    >>> two_afc_agreement([0.1, 0.5, 0.2], [0.3, 0.2, 0.2], [0.25, 0.25, 0.9]).tolist()
    [0.75, 0.25, 0.5]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repalign._validation import as_array, check_count, check_images, describe
from repalign.errors import DataFormatError, ShapeError

__all__ = ["TwoAFCSet", "load_two_afc", "two_afc_agreement", "two_afc_score"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _check_h(h: Any, n: int, where: str) -> np.ndarray:
    try:
        arr = np.asarray(h, dtype=np.float64).reshape(-1) if np.size(h) else np.zeros(0)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"{where}: h must hold numbers (fractions in [0, 1]), received "
                         f"{describe(np.asarray(h))} ({exc}).") from exc
    if arr.shape != (n,):
        raise ShapeError(f"{where}: h must hold one value per item ({n}), received {describe(arr)}.")
    if not np.all(np.isfinite(arr)):
        raise ShapeError(f"{where}: h holds {int((~np.isfinite(arr)).sum())} NaN/Inf value(s) "
                         f"(first at item {int(np.flatnonzero(~np.isfinite(arr))[0])}).")
    if arr.min(initial=0.0) < 0 or arr.max(initial=0.0) > 1:
        raise ShapeError(
            f"{where}: h is the fraction of raters choosing p1 and must lie in [0, 1], received "
            f"values in [{np.nanmin(arr):.4g}, {np.nanmax(arr):.4g}]."
        )
    return arr


@dataclass(frozen=True, eq=False)
class TwoAFCSet:
    """2AFC triplets of images with the human preference for ``p1``.

    Attributes:
        reference: (N, C, H, W) float32 images in [0, 1].
        p0: (N, C, H, W) first distortion.
        p1: (N, C, H, W) second distortion.
        h: (N,) float64 fraction of raters who judged ``p1`` closer to the reference.
        ids: N item ids (file stems in the BAPPS layout).
        source: where it came from.
    """

    reference: torch.Tensor
    p0: torch.Tensor
    p1: torch.Tensor
    h: np.ndarray
    ids: Sequence[str] | None = None
    source: str = "array"

    def __post_init__(self) -> None:
        tensors = {}
        for name in ("reference", "p0", "p1"):
            tensors[name] = check_images(getattr(self, name), f"{name} of {self.source!r}")
            object.__setattr__(self, name, tensors[name].to(torch.float32))
        shapes = {k: tuple(v.shape) for k, v in tensors.items()}
        if len(set(shapes.values())) > 1:
            raise ShapeError(
                f"{self.source}: reference, p0 and p1 must have the same shape, received {shapes}."
            )
        n = shapes["reference"][0]
        object.__setattr__(self, "h", _check_h(self.h, n, self.source))
        ids = [str(i) for i in (self.ids if self.ids is not None else range(n))]
        if len(ids) != n:
            raise ShapeError(f"{self.source}: {len(ids)} ids for {n} items.")
        object.__setattr__(self, "ids", tuple(ids))

    def __len__(self) -> int:
        return int(self.reference.shape[0])

    def score(self, d0: Any, d1: Any) -> float:
        """Soft BAPPS agreement of distances ``d0 = d(ref, p0)`` and ``d1 = d(ref, p1)``."""
        return two_afc_score(d0, d1, self.h)


def two_afc_agreement(d0: Any, d1: Any, h: Any) -> np.ndarray:
    """Per-item soft 2AFC agreement ``(d0 < d1)(1 - h) + (d1 < d0) h + 0.5 (d0 == d1)``.

    Args:
        d0: (N,) distances between the reference and p0.
        d1: (N,) distances between the reference and p1.
        h: (N,) fraction of humans who judged p1 closer.

    Returns:
        (N,) float64 in [0, 1].
    """
    a = as_array(d0, "d0", ndim=1, min_rows=0)
    b = as_array(d1, "d1", ndim=1, min_rows=0)
    if a.shape != b.shape:
        raise ShapeError(f"d0 and d1 must have the same length, received {a.size} and {b.size}.")
    hh = _check_h(h, a.size, "two_afc_agreement")
    agreement: np.ndarray = (a < b) * (1.0 - hh) + (b < a) * hh + 0.5 * (a == b)
    return agreement


def two_afc_score(d0: Any, d1: Any, h: Any) -> float:
    """Mean soft 2AFC agreement (see :func:`two_afc_agreement`); 1 = agrees with every rater.

    Example:
        >>> two_afc_score([0.1, 0.5], [0.3, 0.2], [0.0, 1.0])
        1.0
    """
    scores = two_afc_agreement(d0, d1, h)
    if scores.size == 0:
        raise ShapeError("two_afc_score needs at least one item, received none.")
    return float(scores.mean())


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise DataFormatError(f"{path}: not a readable image ({exc}).") from exc


def _stems(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataFormatError(
            f"{folder}: missing folder; a BAPPS 2AFC folder holds ref/, p0/, p1/ and judge/."
        )
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in suffixes}


def load_two_afc(folder: str | Path, *, limit: int | None = None) -> TwoAFCSet:
    """Load a BAPPS-layout 2AFC folder (``ref/``, ``p0/``, ``p1/``, ``judge/*.npy``).

    Args:
        folder: e.g. ``dataset/2afc/val/traditional``.
        limit: read only the first ``limit`` items (sorted by file stem).

    Returns:
        :class:`TwoAFCSet` with RGB images in [0, 1].

    Raises:
        DataFormatError: missing sub-folders, items missing in one of them, unreadable images or
            judgements, images of different sizes, h outside [0, 1].
        ConfigError: ``limit`` is not a positive integer.

    Example:
        >>> s = load_two_afc("2afc/val/cnn", limit=100)  # doctest: +SKIP
    """
    root = Path(folder)
    if limit is not None:
        check_count(limit, "limit (the number of items to read, or None)")
    parts = {name: _stems(root / name, _IMAGE_SUFFIXES) for name in ("ref", "p0", "p1")}
    judge = _stems(root / "judge", (".npy",))
    ids = sorted(parts["ref"])
    for name, found in (*parts.items(), ("judge", judge)):
        missing = sorted(set(ids) - set(found)) or sorted(set(found) - set(ids))
        if missing:
            raise DataFormatError(
                f"{root}: {name}/ and ref/ list different items (e.g. {missing[:3]}); every item "
                "needs ref, p0, p1 and judge files with the same stem."
            )
    if not ids:
        raise DataFormatError(f"{root}: no images found in ref/.")
    ids = ids[:limit] if limit is not None else ids
    images: dict[str, list[np.ndarray]] = {name: [] for name in parts}
    h = []
    for stem in ids:
        for name in parts:
            images[name].append(_read_image(parts[name][stem]))
        try:
            h.append(float(np.load(judge[stem], allow_pickle=False).reshape(-1)[0]))
        except (ValueError, OSError, IndexError) as exc:
            raise DataFormatError(f"{judge[stem]}: not a readable judgement ({exc}).") from exc
    sizes = {im.shape for name in images for im in images[name]}
    if len(sizes) > 1:
        raise DataFormatError(
            f"{root}: images have different sizes {sorted(sizes)}; resize them to one size."
        )
    tensors = {name: torch.from_numpy(np.stack(v)).permute(0, 3, 1, 2).contiguous()
               for name, v in images.items()}
    try:
        return TwoAFCSet(tensors["ref"], tensors["p0"], tensors["p1"], np.asarray(h), ids,
                         str(root))
    except ShapeError as exc:
        raise DataFormatError(str(exc)) from exc
