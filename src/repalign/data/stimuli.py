"""The :class:`Stimuli` container: images in [0, 1] with ids, labels and a content hash."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from repalign._hashing import hash_array
from repalign._validation import check_images, describe
from repalign.errors import DataFormatError, ShapeError

__all__ = ["Stimuli"]


@dataclass(frozen=True, eq=False)
class Stimuli:
    """A set of images and what is known about them.

    Attributes:
        images: (N, C, H, W) float32 tensor with values in [0, 1].
        ids: N unique strings (file paths relative to the folder, or ``"name/0001"``).
        labels: (N,) int64 class indices, or None.
        label_names: names of the classes indexed by ``labels``, or None.
        name: where the stimuli came from (``"bundled:digits"``, a folder, ``"array"``).

    Example:
        >>> s = Stimuli(torch.rand(4, 3, 8, 8), ids=["a", "b", "c", "d"])
        >>> len(s), s.sha256[:8] == Stimuli(s.images, ids=list(s.ids)).sha256[:8]
        (4, True)
    """

    images: torch.Tensor
    ids: Sequence[str]
    labels: np.ndarray | None = None
    label_names: Sequence[str] | None = None
    name: str = "array"

    def __post_init__(self) -> None:
        images = check_images(self.images, f"images of stimuli {self.name!r}")
        object.__setattr__(self, "images", images.to(torch.float32).contiguous())
        n = images.shape[0]
        ids = [str(i) for i in self.ids]
        if len(ids) != n:
            raise ShapeError(f"Stimuli {self.name!r}: {n} images but {len(ids)} ids.")
        if len(set(ids)) != n:
            dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise DataFormatError(f"Stimuli {self.name!r}: ids must be unique; repeated: {dup}.")
        object.__setattr__(self, "ids", tuple(ids))
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
                raise ShapeError(
                    f"Stimuli {self.name!r}: labels must be {n} integers, received {describe(labels)}."
                )
            labels = labels.astype(np.int64)
            if self.label_names is not None and len(labels) and (
                labels.min() < 0 or labels.max() >= len(self.label_names)
            ):
                raise DataFormatError(
                    f"Stimuli {self.name!r}: labels range over [{labels.min()}, {labels.max()}] "
                    f"but there are {len(self.label_names)} label names."
                )
            object.__setattr__(self, "labels", labels)
        if self.label_names is not None:
            object.__setattr__(self, "label_names", tuple(str(s) for s in self.label_names))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @cached_property
    def sha256(self) -> str:
        """Content hash of the images (dtype, shape and values); ids and labels do not enter."""
        return hash_array(self.images)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(N, C, H, W)."""
        n, c, h, w = self.images.shape
        return int(n), int(c), int(h), int(w)

    def subset(self, index: Sequence[int] | np.ndarray | slice) -> Stimuli:
        """A new :class:`Stimuli` with the selected images, in the given order."""
        if isinstance(index, slice):
            idx = np.arange(len(self))[index]
        else:
            idx = np.asarray(index, dtype=np.int64).reshape(-1)
        if len(idx) and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise ShapeError(f"subset index out of range for {len(self)} stimuli.")
        return Stimuli(
            images=self.images[torch.as_tensor(idx)],
            ids=[self.ids[i] for i in idx],
            labels=None if self.labels is None else self.labels[idx],
            label_names=self.label_names,
            name=self.name,
        )

    def where(self, labels: Sequence[int]) -> Stimuli:
        """The stimuli whose label is in ``labels`` (original order kept)."""
        if self.labels is None:
            raise DataFormatError(f"Stimuli {self.name!r} have no labels to select on.")
        return self.subset(np.flatnonzero(np.isin(self.labels, list(labels))))
