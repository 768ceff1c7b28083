"""``bundled:digits_shifted``: renditions of scikit-learn's digits that the model zoo never saw.

The zoo trains on plain ``bundled:digits`` (white strokes on black, bilinear 32x32). This set
re-draws every digit in other renditions, the way ImageNet-R re-draws ImageNet classes as art,
cartoons and sketches, so that accuracy on it measures robustness to a domain shift:

- ``inverted``: contrast inverted (dark strokes on a white background), ``1 - x``;
- ``outline``: only the contour of the stroke (the stroke mask minus its 3x3 erosion);
- ``thin``: a pen of constant width: the stroke mask (``x > 0.5``) skeletonised (scikit-image's
  ``skeletonize``), then dilated by a 3x3 cross;
- ``thick``: strokes thickened by a grey dilation with a radius-2 disk (``y^2 + x^2 <= 4``, the
  footprint of scikit-image's ``disk(2)``);
- ``striped``: the stroke filled with a diagonal texture (3-pixel bands on, 3 off);
- ``textured``: the digit drawn over a smooth random texture (Gaussian-filtered uniform noise,
  sigma 1.5, scaled to [0, 0.6]; the image is ``max(x, texture)``), one texture per digit, fixed
  by the digit's index, so the set is the same on every load.

Everything is computed at load time from the 32x32 digits with NumPy and SciPy, except the
skeletons of the ``thin`` pen: those of the 1,797 bundled digits were computed once with
scikit-image and ship with the package (``digits_thin_skeletons.npz``, bit-packed, checked
against the digits' masks when read; :func:`write_digit_skeletons` regenerates it), so the set
needs no optional package. :func:`render` of ``thin`` on other images skeletonises them with
scikit-image (the ``photos`` extra). Ids are ``digits_shifted/<rendition>/<index>`` with ``<index>`` the digit's index in
``bundled:digits`` (``digits/<index>``), so each rendition maps back to its source image. The
order is rendition-major (every digit in the first rendition, then the next).

:func:`shifted_digits_test` gives the renditions of the zoo's held-out test digits (classes 0-4
of :func:`~repalign.data.bundled.digits_split`), the images on which the zoo's shifted-domain
accuracy is measured.

Example:
    >>> s = load_digits_shifted(renditions=["inverted"])
    >>> s.shape, s.ids[0]
    ((1797, 1, 32, 32), 'digits_shifted/inverted/0000')
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from repalign._deps import require
from repalign._hashing import hash_array
from repalign._registry import unknown_name_message
from repalign.data.stimuli import Stimuli
from repalign.data.transforms import as_size, crop_resize
from repalign.errors import ConfigError, DataFormatError, MissingDependencyError, UnknownNameError

__all__ = [
    "DISK2",
    "RENDITIONS",
    "SKELETONS_FILE",
    "digit_skeletons",
    "load_digits_shifted",
    "render",
    "rendition_of",
    "shifted_digits_test",
    "write_digit_skeletons",
]

log = logging.getLogger(__name__)

#: the renditions, in the order the set stores them
RENDITIONS: tuple[str, ...] = ("inverted", "outline", "thin", "thick", "striped", "textured")
_BASE_SIZE = 32
_TEXTURE_SEED = 20_000
_MASK_LEVEL = 0.5
#: the radius-2 disk of the ``thick`` pen, (5, 5) bool: ``y^2 + x^2 <= 4``
DISK2: np.ndarray = np.add.outer(np.arange(-2, 3) ** 2, np.arange(-2, 3) ** 2) <= 4
#: the skeletons of the bundled digits' stroke masks at 32x32, shipped with the package
SKELETONS_FILE = Path(__file__).with_name("digits_thin_skeletons.npz")


def _mask(x: np.ndarray) -> np.ndarray:
    return x > _MASK_LEVEL


def _outline(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    mask = _mask(x)
    inner = ndimage.binary_erosion(mask, structure=np.ones((1, 3, 3), bool))
    outline: np.ndarray = (mask & ~inner).astype(np.float32)
    return outline


def _skeletonize(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) bool masks -> their (N, H, W) bool skeletons, with scikit-image."""
    morphology = require("skimage.morphology", "photos",
                         purpose="the thin pen on images other than the bundled digits")
    return np.stack([morphology.skeletonize(m) for m in masks]).astype(bool)


def _pen(skeletons: np.ndarray) -> np.ndarray:
    """(N, H, W) bool skeletons dilated by a 3x3 cross: the thin pen, (N, H, W) float32."""
    from scipy import ndimage

    cross = ndimage.generate_binary_structure(2, 1)[None]
    pen: np.ndarray = ndimage.binary_dilation(skeletons, structure=cross).astype(np.float32)
    return pen


def _thin(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    return _pen(_skeletonize(_mask(x)))


def _thick(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    thick: np.ndarray = ndimage.grey_dilation(x, footprint=DISK2[None])
    return thick


def _striped(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    h, w = x.shape[-2:]
    ii, jj = np.indices((h, w))
    bands = (((ii + jj) // 3) % 2 == 0).astype(np.float32)
    striped: np.ndarray = x * bands
    return striped


def _textured(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    out = np.empty_like(x)
    for k, (img, i) in enumerate(zip(x, index, strict=True)):
        noise = np.random.default_rng([_TEXTURE_SEED, int(i)]).random(img.shape)
        tex = ndimage.gaussian_filter(noise, 1.5)
        tex = (tex - tex.min()) / max(float(np.ptp(tex)), 1e-12) * 0.6
        out[k] = np.maximum(img, tex)
    return out


_RENDERERS = {
    "inverted": lambda x, index: 1.0 - x,
    "outline": _outline,
    "thin": _thin,
    "thick": _thick,
    "striped": _striped,
    "textured": _textured,
}


def _check_renditions(renditions: Sequence[str] | None) -> tuple[str, ...]:
    if renditions is None:
        return RENDITIONS
    if isinstance(renditions, str):
        renditions = [renditions]
    names = tuple(renditions)
    if not names:
        raise ConfigError(f"renditions must name at least one of {list(RENDITIONS)}.")
    for name in names:
        if name not in _RENDERERS:
            raise UnknownNameError(unknown_name_message("digit rendition", name, list(RENDITIONS)))
    if len(set(names)) != len(names):
        raise ConfigError(f"renditions must not repeat, received {list(names)}.")
    return names


def render(images: np.ndarray, rendition: str, index: np.ndarray | None = None) -> np.ndarray:
    """Draw (N, H, W) grey digits in [0, 1] in one rendition.

    Args:
        images: (N, H, W) float images in [0, 1] (white strokes on black).
        rendition: one of :data:`RENDITIONS`.
        index: (N,) ints fixing each image's random texture (``textured`` only; default
            ``arange(N)``).

    Returns:
        (N, H, W) float32 in [0, 1].
    """
    (name,) = _check_renditions([rendition])
    x = np.asarray(images, dtype=np.float32)
    idx = np.arange(len(x)) if index is None else np.asarray(index)
    out = np.asarray(_RENDERERS[name](x, idx), dtype=np.float32)
    return np.clip(out, 0.0, 1.0)


def _digit_masks() -> np.ndarray:
    """The stroke masks of the 1,797 bundled digits at 32x32, (1797, 32, 32) bool."""
    from repalign.data.bundled import load_digits

    return _mask(load_digits(_BASE_SIZE).images[:, 0].numpy())


@functools.lru_cache(maxsize=1)
def digit_skeletons() -> np.ndarray:
    """The shipped skeletons of the bundled digits' stroke masks, read-only (1797, 32, 32) bool.

    They equal scikit-image's ``skeletonize`` of each mask (a test recomputes them). The file
    records a hash of the masks it was computed from, checked here, so that a change in the
    digits or in their resizing cannot pair a digit with a stale skeleton.

    When the digits' masks differ from those the file was computed from (another scikit-learn or
    torch), they are skeletonised at load time with scikit-image, with a warning.

    Raises:
        DataFormatError: the file is missing, or the masks differ and scikit-image (the
            ``photos`` extra) is not installed.
    """
    if not SKELETONS_FILE.is_file():
        raise DataFormatError(
            f"the bundled digits' skeletons ({SKELETONS_FILE.name}) are missing from the "
            "installed package; reinstall repalign."
        )
    with np.load(SKELETONS_FILE) as f:
        packed, masks_hash = f["packed"], str(f["masks_sha256"])
        shape = tuple(int(n) for n in f["shape"])
    masks = _digit_masks()
    if shape == masks.shape and masks_hash == hash_array(masks):
        skeletons = np.unpackbits(packed, axis=-1, count=shape[-1]).astype(bool)
    else:  # other digits or resizing than the file's: skeletonise them here if scikit-image is there
        stale = (f"{SKELETONS_FILE.name} was computed from other masks (shape {shape}) than the "
                 f"installed scikit-learn digits and torch resizing give (shape {masks.shape})")
        try:
            skeletons = _skeletonize(masks)
        except MissingDependencyError:
            raise DataFormatError(
                f"{stale}; install scikit-image (pip install 'repalign[photos]') to skeletonise "
                "them at load time, or regenerate the file with "
                "repalign.data.shifted.write_digit_skeletons()."
            ) from None
        log.warning("%s; skeletonised them with scikit-image instead.", stale)
    skeletons.flags.writeable = False
    return skeletons


def write_digit_skeletons(path: str | Path = SKELETONS_FILE) -> Path:
    """Skeletonise the bundled digits' masks with scikit-image and write the shipped file.

    The file (about 41 KB) holds ``packed``, (1797, 32, 4) uint8 (``np.packbits`` along the
    width), ``shape`` and ``masks_sha256`` (the hash of the masks, checked by
    :func:`digit_skeletons`). Regenerate it with
    ``python -c "from repalign.data.shifted import write_digit_skeletons as w; w()"`` when the
    digits' masks change.

    Args:
        path: where to write (default: the file inside the package, :data:`SKELETONS_FILE`).

    Returns:
        The path written.

    Raises:
        MissingDependencyError: scikit-image (the ``photos`` extra) is not installed.
    """
    masks = _digit_masks()
    skeletons = _skeletonize(masks)
    out = Path(path)
    with out.open("wb") as f:
        np.savez_compressed(f, packed=np.packbits(skeletons, axis=-1),
                            shape=np.array(skeletons.shape), masks_sha256=np.array(hash_array(masks)))
    digit_skeletons.cache_clear()
    return out


@functools.lru_cache(maxsize=len(RENDITIONS))
def _rendered(rendition: str) -> np.ndarray:
    """Every digit at 32x32 in one rendition, read-only (1797, 32, 32) float32 (once per process).

    The ``thin`` pen is drawn from the shipped skeletons (:func:`digit_skeletons`), every other
    rendition by :func:`render`.
    """
    from repalign.data.bundled import load_digits

    if rendition == "thin":
        out = _pen(digit_skeletons())
    else:
        out = render(load_digits(_BASE_SIZE).images[:, 0].numpy(), rendition)
    out.flags.writeable = False
    return out


def _stimuli(indices: np.ndarray, renditions: tuple[str, ...], size: tuple[int, int],
             name: str) -> Stimuli:
    from repalign.data.bundled import digits_arrays

    target = digits_arrays()[1]
    parts = [torch.tensor(_rendered(r)[indices]).unsqueeze(1) for r in renditions]
    images = crop_resize(torch.cat(parts), size)
    ids = [f"digits_shifted/{r}/{i:04d}" for r in renditions for i in indices]
    labels = np.tile(target[indices], len(renditions))
    return Stimuli(images=images, ids=ids, labels=labels,
                   label_names=[str(c) for c in range(10)], name=name)


def load_digits_shifted(size: int | tuple[int, int] | None = None,
                        renditions: Sequence[str] | None = None) -> Stimuli:
    """Every one of the 1,797 digits in each rendition, (1797 * R, 1, H, W) (default 32x32).

    Args:
        size: output (H, W) or an int; the renditions are drawn at 32x32 and then resized.
        renditions: which renditions, in this order (default: all of :data:`RENDITIONS`).

    Returns:
        :class:`Stimuli` named ``bundled:digits_shifted``, labels 0-9.

    Raises:
        UnknownNameError: an unknown rendition (the valid ones are listed).
    """
    names = _check_renditions(renditions)
    hw = as_size(size) or (_BASE_SIZE, _BASE_SIZE)
    n = len(_rendered(names[0]))
    return _stimuli(np.arange(n), names, hw, "bundled:digits_shifted")


def shifted_digits_test(size: int | tuple[int, int] | None = None,
                        renditions: Sequence[str] | None = None) -> Stimuli:
    """The renditions of the zoo's held-out test digits (classes 0-4, labels 0-4).

    These are the images of ``digits_split().test`` (never trained on by the zoo) in each
    rendition, rendition-major, in the test split's order.

    Example:
        >>> len(shifted_digits_test(renditions=["thick", "outline"]))
        542
    """
    from repalign.data.bundled import digits_split

    names = _check_renditions(renditions)
    hw = as_size(size) or (_BASE_SIZE, _BASE_SIZE)
    test_ids = digits_split().test.ids
    indices = np.array([int(str(i).rsplit("/", 1)[1]) for i in test_ids], dtype=np.int64)
    return _stimuli(indices, names, hw, "bundled:digits_shifted[test 0-4]")


def rendition_of(ids: Sequence[str]) -> np.ndarray:
    """The rendition of each ``digits_shifted/<rendition>/<index>`` id, as an (N,) str array.

    Raises:
        ConfigError: an id that is not of that form.
    """
    out = []
    for i in ids:
        parts = str(i).split("/")
        if len(parts) != 3 or parts[0] != "digits_shifted" or parts[1] not in _RENDERERS:
            raise ConfigError(
                f"expected ids 'digits_shifted/<rendition>/<index>' with a rendition in "
                f"{list(RENDITIONS)}, received {i!r}."
            )
        out.append(parts[1])
    return np.array(out)
