"""``load_stimuli``: one entry point for bundled sets, image folders, arrays and tensors.

Sources and what they give:

- ``"bundled:digits"`` / ``"bundled:digits_shifted"`` / ``"bundled:photos"``: see
  :mod:`repalign.data.bundled`.
- a folder (``str`` or ``Path``): every non-hidden file below it, sorted by relative path; ids are
  the relative POSIX paths; when the files sit in sub-folders, the first sub-folder is the label
  (``label_names`` sorted). Files directly in the folder give no labels; a mix of both is refused.
- a numpy array or torch tensor: (N, C, H, W) or (N, H, W) with C in {1, 3}; channels-last
  (N, H, W, C) only when ``channels_last=True`` (never guessed). Floats must lie in [0, 1];
  ``uint8`` is divided by 255; other integer types are refused.
- a :class:`Stimuli`: passed through (resized / converted if asked).

Errors name the file or the shape: :class:`DataFormatError` for unreadable or corrupt files,
empty folders, values outside [0, 1], wrong rank or channel count; :class:`UnknownNameError` for an
unknown ``bundled:`` name.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repalign._validation import describe, to_numpy
from repalign.data.bundled import load_bundled
from repalign.data.stimuli import Stimuli
from repalign.data.transforms import as_size, convert_channels, crop_resize
from repalign.errors import ConfigError, DataFormatError

__all__ = ["list_image_files", "load_stimuli", "read_image"]

logger = logging.getLogger(__name__)

_GREY_MODES = {"1", "L", "LA", "I;16", "I;16L", "I;16B"}


def load_stimuli(
    source: str | Path | np.ndarray | torch.Tensor | Stimuli,
    size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    *,
    limit: int | None = None,
    labels: Sequence[int] | np.ndarray | None = None,
    ids: Sequence[str] | None = None,
    label_names: Sequence[str] | None = None,
    channels_last: bool = False,
    extensions: Sequence[str] | None = None,
    name: str | None = None,
) -> Stimuli:
    """Load images as :class:`Stimuli` (float32 (N, C, H, W) in [0, 1]).

    Args:
        source: ``"bundled:digits"``, ``"bundled:photos"``, a folder, an array or tensor, or
            :class:`Stimuli`.
        size: output (H, W), or an int for square images. Images are centre-cropped to that
            aspect ratio, then resized (antialiased bilinear). ``None``: the source's size
            (digits 32x32, photos 64x64; a folder's images must then all share one size).
        channels: 1 (luma, ITU-R 601) or 3 (grey replicated); ``None`` keeps the source's
            (digits 1, photos 3, a folder 1 if every image is grey, else 3).
        limit: keep only the first ``limit`` images (in the source's order; for a folder only
            those files are read).
        labels: (N,) integer labels of an array source (folders derive theirs).
        ids: N unique ids of an array source (default ``"<name>/00000"``, ...).
        label_names: names of the label indices of an array source.
        channels_last: an array source is (N, H, W, C).
        extensions: for a folder, load only files with these suffixes (e.g. ``(".png",)``);
            by default every non-hidden file must be a readable image.
        name: the stimulus set's name (default: the source string, or ``"array"``).

    Returns:
        :class:`Stimuli` with images, ids, labels (or None), label_names (or None), name.

    Raises:
        DataFormatError: unreadable/corrupt/non-image file, empty folder, values outside [0, 1],
            wrong rank or channels (the message names the file or the shape).
        UnknownNameError: an unknown ``bundled:`` set.

    Example:
        >>> load_stimuli("bundled:digits").shape
        (1797, 1, 32, 32)
        >>> load_stimuli(np.zeros((4, 8, 8), dtype=np.float32), size=16, channels=3).shape
        (4, 3, 16, 16)
    """
    hw = as_size(size)
    if channels not in (None, 1, 3):
        raise ConfigError(f"channels must be 1, 3 or None, received {channels!r}.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer))
                              or limit < 1):
        raise ConfigError(f"limit must be a positive int or None, received {limit!r}.")
    array_only = {"labels": labels, "ids": ids, "label_names": label_names}
    given = [k for k, v in array_only.items() if v is not None]
    is_array = isinstance(source, (np.ndarray, torch.Tensor))
    if given and not is_array:
        raise ConfigError(f"{given} can only be given with an array or tensor source; "
                          f"{type(source).__name__} sources carry their own.")

    if isinstance(source, Stimuli):
        stim = source
    elif isinstance(source, (np.ndarray, torch.Tensor)):
        stim = _from_array(source, labels=labels, ids=ids, label_names=label_names,
                           channels_last=channels_last, limit=limit, name=name or "array")
    elif isinstance(source, str) and source.startswith("bundled:"):
        stim = load_bundled(source.removeprefix("bundled:"), hw)
    elif isinstance(source, (str, Path)):
        stim = _from_folder(Path(source), hw, extensions=extensions, limit=limit,
                            name=name or str(source))
    else:
        raise DataFormatError(
            f"load_stimuli expects 'bundled:<name>', a folder, an array/tensor or Stimuli; "
            f"received {describe(source)}."
        )
    return _finish(stim, hw, channels, limit, name)


def _finish(stim: Stimuli, hw: tuple[int, int] | None, channels: int | None,
            limit: int | None, name: str | None) -> Stimuli:
    if limit is not None and limit < len(stim):
        stim = stim.subset(slice(0, limit))
    images = stim.images
    if hw is not None and tuple(images.shape[-2:]) != hw:
        images = crop_resize(images, hw)
    images = convert_channels(images, channels)
    if images is stim.images and (name is None or name == stim.name):
        return stim
    return Stimuli(images, stim.ids, stim.labels, stim.label_names, name=name or stim.name)


# -- arrays ---------------------------------------------------------------------------------------
def _from_array(x: np.ndarray | torch.Tensor, *, labels: Any, ids: Sequence[str] | None,
                label_names: Sequence[str] | None, channels_last: bool, limit: int | None,
                name: str) -> Stimuli:
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    shape = tuple(t.shape)
    if t.ndim == 3:
        t = t.unsqueeze(1)
    elif t.ndim == 4:
        if channels_last:
            t = t.permute(0, 3, 1, 2)
        elif t.shape[1] not in (1, 3) and t.shape[-1] in (1, 3):
            raise DataFormatError(
                f"{name}: shape {shape} looks channels-last (N, H, W, C); pass "
                "channels_last=True if it is, or give (N, C, H, W)."
            )
    else:
        raise DataFormatError(
            f"{name}: images must have shape (N, C, H, W) or (N, H, W), received shape {shape}."
        )
    if t.shape[1] not in (1, 3):
        raise DataFormatError(
            f"{name}: images must have 1 or 3 channels, received {t.shape[1]} (shape {shape}"
            f"{', channels-last' if channels_last else ''})."
        )
    if t.shape[0] == 0:
        raise DataFormatError(f"{name}: no images (shape {shape}).")
    if limit is not None:
        t = t[:limit]
    t = _to_unit_float(t, name, shape)
    n = t.shape[0]
    if labels is not None:
        labels = to_numpy(labels)
        if labels.shape[:1] != (shape[0],):
            raise DataFormatError(
                f"{name}: {shape[0]} images but labels have shape {labels.shape}."
            )
        labels = labels[:n]
    if ids is not None:
        if len(ids) != shape[0]:
            raise DataFormatError(f"{name}: {shape[0]} images but {len(ids)} ids.")
        ids = list(ids)[:n]
    width = max(5, len(str(n - 1)))
    return Stimuli(t.contiguous(), ids if ids is not None else [f"{name}/{i:0{width}d}"
                                                               for i in range(n)],
                   labels=labels, label_names=label_names, name=name)


def _to_unit_float(t: torch.Tensor, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    if t.dtype == torch.uint8:
        return t.float().div_(255.0)
    if not torch.is_floating_point(t):
        raise DataFormatError(
            f"{name}: images must be float in [0, 1] or uint8 in [0, 255], received dtype "
            f"{t.dtype} (shape {shape}); convert them (e.g. x / x.max())."
        )
    t = t.float()
    bad = ~torch.isfinite(t)
    if bad.any():
        raise DataFormatError(f"{name}: {int(bad.sum())} NaN or Inf value(s) in images of shape "
                              f"{shape}; clean them first.")
    lo, hi = float(t.min()), float(t.max())
    if lo < 0.0 or hi > 1.0:
        raise DataFormatError(
            f"{name}: pixel values must lie in [0, 1], received values in [{lo:.4g}, {hi:.4g}] "
            f"(shape {shape}); rescale them (e.g. x / 255 for 8-bit images)."
        )
    return t


# -- folders --------------------------------------------------------------------------------------
def _list_files(root: Path, extensions: Sequence[str] | None) -> list[Path]:
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions or ()}
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if exts and path.suffix.lower() not in exts:
            continue
        files.append(rel)
    return sorted(files, key=lambda p: p.as_posix())


def _folder_labels(root: Path, files: list[Path]) -> tuple[np.ndarray | None, list[str] | None]:
    nested = [f for f in files if len(f.parts) > 1]
    if not nested:
        return None, None
    if len(nested) != len(files):
        flat = next(f for f in files if len(f.parts) == 1)
        raise DataFormatError(
            f"folder {str(root)!r} mixes files at its top ({flat.as_posix()!r}) with files in "
            f"sub-folders ({nested[0].as_posix()!r}); labels come from sub-folders, so put every "
            "image in a class sub-folder or none."
        )
    names = sorted({f.parts[0] for f in files})
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[f.parts[0]] for f in files], dtype=np.int64), names


def read_image(path: Path, rel: str) -> tuple[np.ndarray, bool]:
    """(H, W, C) float32 in [0, 1] (C = 1 or 3) and whether an alpha channel was dropped."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode == "P":
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
                mode = img.mode
            alpha = mode in ("RGBA", "LA", "PA")
            if mode in ("I;16", "I;16L", "I;16B"):
                arr = np.asarray(img, dtype=np.float32) / 65535.0
            elif mode in _GREY_MODES:
                arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
            elif mode in ("RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV"):
                arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
            else:
                raise DataFormatError(
                    f"{rel}: image mode {mode!r} (32-bit integer or float pixels) has no fixed "
                    "[0, 1] scale; convert the file to 8- or 16-bit."
                )
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(
            f"{rel}: not a readable image ({type(exc).__name__}: {str(exc)[:160]}); remove the "
            "file, or pass extensions=(...) to load only image files."
        ) from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr, alpha


def list_image_files(root: Path, extensions: Sequence[str] | None = None) -> list[Path]:
    """The files a folder source holds (relative paths, sorted); errors for a missing, empty or
    non-folder ``root``."""
    root = Path(root)
    if not root.exists():
        raise DataFormatError(f"stimulus folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise DataFormatError(
            f"{str(root)!r} is a file; load_stimuli expects a folder of images (or "
            "'bundled:<name>', or an array: load single arrays with numpy and pass them)."
        )
    files = _list_files(root, extensions)
    if not files:
        what = f" with extensions {list(extensions)}" if extensions else ""
        raise DataFormatError(f"stimulus folder {str(root)!r} holds no files{what}.")
    return files


def _from_folder(root: Path, hw: tuple[int, int] | None, *, extensions: Sequence[str] | None,
                 limit: int | None, name: str) -> Stimuli:
    files = list_image_files(root, extensions)
    labels, label_names = _folder_labels(root, files)
    if limit is not None:
        files = files[:limit]
        labels = None if labels is None else labels[:limit]
    tensors: list[torch.Tensor] = []
    with_alpha: list[str] = []
    sizes: dict[tuple[int, ...], str] = {}
    for rel in files:
        arr, alpha = read_image(root / rel, rel.as_posix())
        if alpha:
            with_alpha.append(rel.as_posix())
        t = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)
        if hw is not None:
            t = crop_resize(t, hw)
        sizes.setdefault(tuple(t.shape[-2:]), rel.as_posix())
        tensors.append(t)
    if len(sizes) > 1:
        (s1, f1), (s2, f2) = list(sizes.items())[:2]
        raise DataFormatError(
            f"images in {str(root)!r} differ in size ({f1!r} is {s1[0]}x{s1[1]}, {f2!r} is "
            f"{s2[0]}x{s2[1]}); pass size=... to centre-crop and resize them."
        )
    if with_alpha:
        warnings.warn(
            f"{len(with_alpha)} image(s) in {str(root)!r} have an alpha channel, which was "
            f"dropped (e.g. {with_alpha[:3]}).",
            stacklevel=3,
        )
    grey = all(t.shape[1] == 1 for t in tensors)
    images = torch.cat([t if grey else convert_channels(t, 3) for t in tensors])
    logger.info("loaded %d images from %s", len(files), root)
    return Stimuli(images, [f.as_posix() for f in files], labels=labels,
                   label_names=label_names, name=name)
