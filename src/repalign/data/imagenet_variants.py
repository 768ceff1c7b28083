"""ImageNet-R and ImageNet-A from a local folder, labelled with ImageNet-1k class indices.

Both sets are distributed as one folder per class, named by the class's WordNet id, holding
JPEG files (and a ``README.txt`` at the top)::

    imagenet-r/
      README.txt
      n01443537/art_0.jpg, cartoon_3.jpg, ...
      n01484850/...
      ...                                  (200 class folders)

- ImageNet-R (Hendrycks et al. 2021, "The many faces of robustness"): renditions (art,
  cartoons, sketches, paintings, toys, ...) of 200 ImageNet classes, about 30,000 images: the
  domain-shift axis of seed 000.
- ImageNet-A (Hendrycks et al. 2021, "Natural adversarial examples"): 7,500 natural images of
  200 (other) ImageNet classes that fool ResNet-50s: the adversarial axis.

The class lists (the 1,000 ImageNet-1k WordNet ids in index order, and each set's 200) are read
from the class-list files shipped in timm, a dependency of repalign. A model's 1,000 logits are
compared on the set's 200 classes only (the published protocol): :func:`variant_accuracy`.

Example:
    >>> stim = load_imagenet_variant("data/imagenet-r", "imagenet-r", per_class=5)   # doctest: +SKIP
    >>> stim.labels[:3], stim.label_names[stim.labels[0]]                            # doctest: +SKIP
    (array([1, 1, 1]), 'n01443537')
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
from pathlib import Path

import numpy as np
import torch

from repalign._registry import unknown_name_message
from repalign._validation import describe
from repalign.data.stimuli import Stimuli
from repalign.errors import DataFormatError, ShapeError, UnknownNameError

__all__ = [
    "IMAGENET_VARIANTS",
    "imagenet_wnids",
    "load_imagenet_variant",
    "variant_accuracy",
    "variant_indices",
    "variant_wnids",
]

log = logging.getLogger(__name__)

#: variant -> timm's file with its 200 WordNet ids
IMAGENET_VARIANTS: dict[str, str] = {
    "imagenet-r": "imagenet_r_synsets.txt",
    "imagenet-a": "imagenet_a_synsets.txt",
}
_WNID = re.compile(r"^n\d{8}$")
_EXTENSIONS = (".jpg", ".jpeg", ".png")
_IGNORED_TOP_FILES = {"readme.txt", "readme.md", "license", "license.txt"}


@functools.lru_cache(maxsize=4)
def _class_list(filename: str) -> tuple[str, ...]:
    # located without importing timm (its import takes seconds)
    spec = importlib.util.find_spec("timm")
    try:
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("timm is not installed")
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / "_info" / filename
        text = path.read_text()
    except OSError as exc:
        raise DataFormatError(
            f"the ImageNet class list {filename!r} ships with timm >= 0.9 (timm.data._info) but "
            f"was not found ({exc}); reinstall timm."
        ) from None
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def imagenet_wnids() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k WordNet ids; the position of an id is its class index."""
    return _class_list("imagenet_synsets.txt")


def _check_variant(variant: str) -> str:
    if variant not in IMAGENET_VARIANTS:
        raise UnknownNameError(unknown_name_message("ImageNet variant", variant,
                                                    sorted(IMAGENET_VARIANTS)))
    return variant


def variant_wnids(variant: str) -> tuple[str, ...]:
    """The 200 WordNet ids of ``"imagenet-r"`` or ``"imagenet-a"`` (in ImageNet-1k order)."""
    return _class_list(IMAGENET_VARIANTS[_check_variant(variant)])


def variant_indices(variant: str) -> np.ndarray:
    """(200,) ImageNet-1k class indices of the variant's classes, ascending."""
    index = {w: i for i, w in enumerate(imagenet_wnids())}
    return np.array(sorted(index[w] for w in variant_wnids(variant)), dtype=np.int64)


def _class_folders(root: Path, variant: str) -> list[Path]:
    if not root.is_dir():
        raise DataFormatError(f"{variant}: {str(root)!r} is not a folder; expected the extracted "
                              f"{variant} folder holding one sub-folder per class (n01443537/...).")
    folders, stray = [], []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            folders.append(entry)
        elif entry.name.lower() not in _IGNORED_TOP_FILES:
            stray.append(entry.name)
    if stray:
        raise DataFormatError(f"{variant}: files at the top of {str(root)!r} ({stray[:3]}); the "
                              "images belong in class folders named by WordNet id (n01443537/).")
    if not folders:
        raise DataFormatError(f"{variant}: {str(root)!r} holds no class folders; expected "
                              "folders named by WordNet id, e.g. n01443537/.")
    bad = [f.name for f in folders if not _WNID.match(f.name)]
    if bad:
        raise DataFormatError(f"{variant}: class folders must be WordNet ids like 'n01443537'; "
                              f"found {bad[:5]} in {str(root)!r}.")
    allowed = set(variant_wnids(variant))
    foreign = [f.name for f in folders if f.name not in allowed]
    if foreign:
        other = [v for v in IMAGENET_VARIANTS if v != variant
                 and set(foreign) <= set(variant_wnids(v))]
        hint = f"; they are {other[0]} classes: is this the {other[0]} folder?" if other else ""
        raise DataFormatError(f"{variant}: {len(foreign)} class folder(s) are not among its 200 "
                              f"classes, e.g. {foreign[:5]}{hint}")
    return folders


def load_imagenet_variant(
    path: str | Path,
    variant: str = "imagenet-r",
    *,
    size: int | tuple[int, int] = 224,
    per_class: int | None = None,
    require_all: bool = False,
) -> Stimuli:
    """Load ImageNet-R or ImageNet-A from its extracted folder.

    Args:
        path: the folder holding the class folders (``imagenet-r/`` or ``imagenet-a/``).
        variant: ``"imagenet-r"`` or ``"imagenet-a"``.
        size: output (H, W) or an int; images are centre-cropped and resized (the sets' images
            differ in size). The whole ImageNet-R at 224x224 takes about 18 GB as float32: use
            ``per_class`` or a smaller ``size`` on small machines.
        per_class: read at most this many images per class (the first in file-name order).
        require_all: refuse a folder that lacks some of the variant's 200 classes (by default a
            subset is loaded, with a log message saying how many classes are missing).

    Returns:
        :class:`Stimuli` (N, 3, H, W); ``labels`` are ImageNet-1k class indices,
        ``label_names`` the 1,000 ImageNet-1k WordNet ids, ids ``<wnid>/<file>``.

    Raises:
        DataFormatError: not a folder; files at the top (other than a README); class folders
            not named by WordNet id or not among the variant's classes (naming the other variant
            when they belong to it); a class folder without images; unreadable images.
        UnknownNameError: an unknown variant.
    """
    from repalign.data.loaders import load_stimuli

    variant = _check_variant(variant)
    root = Path(path)
    folders = _class_folders(root, variant)
    missing = sorted(set(variant_wnids(variant)) - {f.name for f in folders})
    if missing and require_all:
        raise DataFormatError(f"{variant}: {len(missing)} of its 200 class folders are missing "
                              f"from {str(root)!r}, e.g. {missing[:5]}.")
    if missing:
        log.info("%s: %d of 200 classes are absent from %s", variant, len(missing), root)
    index = {w: i for i, w in enumerate(imagenet_wnids())}
    images, ids, labels = [], [], []
    for folder in folders:
        try:
            part = load_stimuli(folder, size=size, channels=3, extensions=_EXTENSIONS,
                                limit=per_class)
        except DataFormatError as exc:
            raise DataFormatError(f"{variant}: class folder {folder.name}: {exc}") from None
        if part.labels is not None:
            raise DataFormatError(f"{variant}: class folder {folder.name} has sub-folders; "
                                  "each class folder holds its images directly.")
        images.append(part.images)
        ids += [f"{folder.name}/{i}" for i in part.ids]
        labels += [index[folder.name]] * len(part)
    return Stimuli(torch.cat(images), ids, labels=np.array(labels, dtype=np.int64),
                   label_names=list(imagenet_wnids()), name=variant)


def variant_accuracy(logits: np.ndarray | torch.Tensor, labels: np.ndarray, variant: str) -> float:
    """Top-1 accuracy of ImageNet-1k logits on the variant, arg-max over its 200 classes only.

    Args:
        logits: (N, 1000) ImageNet-1k logits.
        labels: (N,) ImageNet-1k class indices (as :func:`load_imagenet_variant` gives).
        variant: ``"imagenet-r"`` or ``"imagenet-a"``.

    Returns:
        The share of images whose best class among the 200 is the label.
    """
    arr = logits.detach().cpu().numpy() if isinstance(logits, torch.Tensor) else np.asarray(logits)
    lab = np.asarray(labels)
    if arr.ndim != 2 or arr.shape[1] != 1000 or lab.shape != (arr.shape[0],):
        raise ShapeError(f"{variant}: need (N, 1000) logits and (N,) labels, received "
                         f"{describe(arr)} and {describe(lab)}.")
    keep = variant_indices(variant)
    outside = ~np.isin(lab, keep)
    if outside.any():
        raise DataFormatError(f"{variant}: {int(outside.sum())} label(s) are not among its 200 "
                              f"classes, e.g. {lab[outside][:3].tolist()}.")
    return float(np.mean(keep[arr[:, keep].argmax(1)] == lab))
