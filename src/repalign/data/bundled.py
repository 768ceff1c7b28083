"""Stimulus sets that ship with repalign's dependencies and need no download.

- ``digits``: scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels), scaled to [0, 1] and
  upsampled (bilinear) to 32x32 by default; labels 0-9; ids ``digits/0000`` ... ``digits/1796``.
- ``photos``: the natural RGB photographs stored inside scikit-image and scikit-learn (astronaut,
  cat, coffee, rocket, motorcycle, Hubble deep field, China palace, flower), centre-cropped to a
  square and resized to 64x64 by default; ids ``photos/<name>``; no labels. Six of the eight are
  files of scikit-image, which is not a core dependency: the ``photos`` extra installs it.
- ``digits_shifted``: the same digits re-drawn in six renditions the model zoo never trained on
  (inverted contrast, outlines, thin and thick pens, striped and textured); see
  :mod:`repalign.data.shifted`.

:func:`digits_split` gives the fixed split used by the model zoo: classes 0-4 for pre-training
(a stratified train/test split) and the unseen classes 5-9 for few-shot transfer.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from repalign._deps import require
from repalign._registry import unknown_name_message
from repalign.data.stimuli import Stimuli
from repalign.data.transforms import as_size, crop_resize
from repalign.errors import DataFormatError, UnknownNameError

__all__ = [
    "BUNDLED",
    "PHOTO_FILES",
    "DigitsSplit",
    "bundled_names",
    "digits_arrays",
    "digits_split",
    "load_bundled",
    "load_digits",
    "load_photos",
]

logger = logging.getLogger(__name__)

#: (package, file inside the package's data folder, id) of every bundled photograph
PHOTO_FILES: tuple[tuple[str, str, str], ...] = (
    ("skimage", "astronaut.png", "astronaut"),
    ("skimage", "chelsea.png", "cat"),
    ("skimage", "coffee.png", "coffee"),
    ("skimage", "rocket.jpg", "rocket"),
    ("skimage", "motorcycle_left.png", "motorcycle"),
    ("skimage", "hubble_deep_field.jpg", "hubble_deep_field"),
    ("sklearn", "china.jpg", "china"),
    ("sklearn", "flower.jpg", "flower"),
)

PRETRAIN_CLASSES: tuple[int, ...] = (0, 1, 2, 3, 4)
TRANSFER_CLASSES: tuple[int, ...] = (5, 6, 7, 8, 9)
SPLIT_SEED = 0
SPLIT_TEST_FRACTION = 0.3


@functools.lru_cache(maxsize=1)
def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as read-only (1797, 8, 8) float32 in [0, 1] and (1797,) labels
    (read once per process): the arrays behind ``bundled:digits`` and its renditions."""
    from sklearn.datasets import load_digits as _sk_digits

    data = _sk_digits()
    pixels = np.asarray(data.images, dtype=np.float32) / 16.0
    target = np.asarray(data.target, dtype=np.int64)
    pixels.flags.writeable = target.flags.writeable = False
    return pixels, target


@functools.lru_cache(maxsize=len(PHOTO_FILES))
def _photo_raw(path: Path) -> np.ndarray:
    """A photo as a read-only (H, W, 3) float32 array in [0, 1] (decoded once per process)."""
    from PIL import Image

    with Image.open(path) as img:
        pixels = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    pixels.flags.writeable = False
    return pixels


def load_digits(size: int | tuple[int, int] | None = None) -> Stimuli:
    """scikit-learn's 1,797 digits as (1797, 1, H, W) images in [0, 1] (default 32x32).

    The 8x8 originals (values 0-16) are divided by 16 and upsampled bilinearly, which keeps every
    value inside [0, 1].

    Example:
        >>> load_digits().shape
        (1797, 1, 32, 32)
    """
    hw = as_size(size) or (32, 32)
    pixels, target = digits_arrays()
    images = crop_resize(torch.tensor(pixels).unsqueeze(1), hw)
    n = images.shape[0]
    return Stimuli(
        images=images,
        ids=[f"digits/{i:04d}" for i in range(n)],
        labels=target.copy(),
        label_names=[str(c) for c in range(10)],
        name="bundled:digits",
    )


def _package_data_dir(package: str) -> Path:
    if package == "skimage":
        data = require("skimage.data", "photos",
                       purpose="bundled:photos (six of its eight photographs are scikit-image's)")
        return Path(str(data.__file__)).parent
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "images"


def load_photos(size: int | tuple[int, int] | None = None) -> Stimuli:
    """The natural RGB photographs shipped in scikit-image and scikit-learn, (N, 3, H, W).

    Each photo is centre-cropped to the aspect ratio of ``size`` (square by default) and resized
    (antialiased bilinear) to 64x64 by default. A photo missing from the installed package is left
    out with a warning naming it; none found raises :class:`DataFormatError`.

    Raises:
        MissingDependencyError: scikit-image is not installed (``pip install 'repalign[photos]'``);
            the set is never returned with only scikit-learn's two photos.

    Example:
        >>> load_photos(32).shape
        (8, 3, 32, 32)
    """
    hw = as_size(size) or (64, 64)
    tensors, ids, missing = [], [], []
    for package, filename, pid in PHOTO_FILES:
        path = _package_data_dir(package) / filename
        if not path.is_file():
            missing.append(f"{package}/{filename}")
            continue
        pixels = torch.tensor(_photo_raw(path)).permute(2, 0, 1).unsqueeze(0)
        tensors.append(crop_resize(pixels, hw).clone())
        ids.append(f"photos/{pid}")
    if missing:
        warnings.warn(
            f"bundled:photos: {len(missing)} photo(s) not found in the installed packages and left "
            f"out: {missing}; reinstall scikit-image / scikit-learn to get them.",
            stacklevel=2,
        )
    if not tensors:
        raise DataFormatError(
            "bundled:photos: none of the photos shipped with scikit-image and scikit-learn was "
            "found on disk; reinstall those packages."
        )
    return Stimuli(images=torch.cat(tensors), ids=ids, name="bundled:photos")


def _load_digits_shifted(size: int | tuple[int, int] | None = None) -> Stimuli:
    from repalign.data.shifted import load_digits_shifted

    return load_digits_shifted(size)


#: name -> loader(size) of every bundled set
BUNDLED: dict[str, Callable[[int | tuple[int, int] | None], Stimuli]] = {
    "digits": load_digits,
    "digits_shifted": _load_digits_shifted,
    "photos": load_photos,
}


def bundled_names() -> list[str]:
    """Names of the bundled sets, usable as ``load_stimuli("bundled:<name>")``."""
    return sorted(BUNDLED)


def load_bundled(name: str, size: int | tuple[int, int] | None = None) -> Stimuli:
    """Load a bundled set by name (without the ``bundled:`` prefix)."""
    if name not in BUNDLED:
        raise UnknownNameError(unknown_name_message("bundled stimulus set", name, bundled_names()))
    return BUNDLED[name](size)


@dataclass(frozen=True)
class DigitsSplit:
    """The fixed digits split used by the zoo and the few-shot analysis.

    Attributes:
        train: classes 0-4, training part (stratified 70 %), labels 0-4.
        test: classes 0-4, held-out part (30 %), labels 0-4.
        transfer: every image of the unseen classes 5-9, labels 5-9 (for few-shot transfer).
    """

    train: Stimuli
    test: Stimuli
    transfer: Stimuli


def digits_split(size: int | tuple[int, int] | None = None) -> DigitsSplit:
    """The deterministic split of ``bundled:digits``: pre-training classes 0-4, transfer 5-9.

    Classes 0-4 are split 70/30 per class (stratified, fixed seed 0); classes 5-9 are kept whole
    as the unseen transfer set. The same call always returns the same images in the same order.

    Example:
        >>> s = digits_split()
        >>> len(s.train), len(s.test), len(s.transfer)
        (630, 271, 896)
    """
    from sklearn.model_selection import train_test_split

    digits = load_digits(size)
    assert digits.labels is not None
    pre = np.flatnonzero(np.isin(digits.labels, PRETRAIN_CLASSES))
    train_idx, test_idx = train_test_split(
        pre,
        test_size=SPLIT_TEST_FRACTION,
        random_state=SPLIT_SEED,
        stratify=digits.labels[pre],
    )
    transfer_idx = np.flatnonzero(np.isin(digits.labels, TRANSFER_CLASSES))
    return DigitsSplit(
        train=_named(digits.subset(np.sort(train_idx)), "bundled:digits[train 0-4]"),
        test=_named(digits.subset(np.sort(test_idx)), "bundled:digits[test 0-4]"),
        transfer=_named(digits.subset(transfer_idx), "bundled:digits[transfer 5-9]"),
    )


def _named(stim: Stimuli, name: str) -> Stimuli:
    return Stimuli(stim.images, stim.ids, stim.labels, stim.label_names, name=name)
