"""The :class:`Distance` interface shared by every perceptual distance, and the mean of several.

A distance maps two image batches ``x, y`` (N, C, H, W) in [0, 1] to an (N,) tensor, differentiably.
It is computed in two steps so that pairwise matrices do not repeat the expensive part:
``embed(x)`` (e.g. a network's normalised features; the images themselves for SSIM) and
``between(ex, ey)`` on two paired embeddings. ``d(x, y) == between(embed(x), embed(y))``.

Distances are ``nn.Module``s with frozen parameters. They follow their inputs: the first call on a
tensor of another device or dtype moves the module there.

Example:
    >>> import torch
    >>> from repalign.perceptual.pixel import PixelL2
    >>> d = PixelL2()
    >>> d(torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8))
    tensor([1., 1.])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch import nn

from repalign._validation import check_images, describe
from repalign.errors import ShapeError

__all__ = ["CallableDistance", "Distance", "MeanDistance", "take", "to_rgb"]

Embedding = Any  # a tensor, or a list/tuple of tensors (nested for composite distances)


def to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Repeat a 1-channel batch to 3 channels (grey stays grey); 3-channel input is returned as is."""
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def take(emb: Embedding, index: torch.Tensor) -> Embedding:
    """Rows ``index`` of an embedding (a tensor, or nested lists/tuples of tensors)."""
    if isinstance(emb, torch.Tensor):
        return emb.index_select(0, index.to(emb.device))
    return type(emb)(take(e, index) for e in emb)


def _rows(emb: Embedding) -> int:
    return int(emb.shape[0]) if isinstance(emb, torch.Tensor) else _rows(emb[0])


def _cat(parts: list[Embedding]) -> Embedding:
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    return type(first)(_cat([p[i] for p in parts]) for i in range(len(first)))


class Distance(nn.Module):
    """Base class: a differentiable distance between paired image batches.

    Subclasses set ``name`` and ``channels`` (the channel counts the metric accepts natively;
    1-channel inputs are converted by :meth:`embed` where needed) and implement :meth:`embed`
    and :meth:`between`.

    Attributes:
        name: the spec that builds this distance (e.g. ``"lpips:alex"``).
    """

    name: str = "distance"

    def __init__(self) -> None:
        super().__init__()
        self._place: tuple[torch.device, torch.dtype] | None = None

    # -- to implement -----------------------------------------------------------------------------
    def embed(self, x: torch.Tensor) -> Embedding:
        """What the distance compares, for images ``x`` (N, C, H, W); defaults to ``x`` itself."""
        return x

    def between(self, ex: Embedding, ey: Embedding) -> torch.Tensor:
        """(N,) distances between paired embeddings from :meth:`embed`."""
        raise NotImplementedError

    # -- public -----------------------------------------------------------------------------------
    def check(self, x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate a pair of image batches: same shape (N, C, H, W), C in {1, 3}, values in [0, 1]."""
        check_images(x.detach() if isinstance(x, torch.Tensor) else x, "x")
        check_images(y.detach() if isinstance(y, torch.Tensor) else y, "y")
        x, y = torch.as_tensor(x), torch.as_tensor(y)
        if x.shape != y.shape:
            raise ShapeError(
                f"{self.name}: x and y must have the same shape (N, C, H, W), received "
                f"{describe(x)} and {describe(y)}; pair each image with one other image."
            )
        if x.shape[1] not in (1, 3):
            raise ShapeError(
                f"{self.name}: images must have 1 (grey) or 3 (RGB) channels, received "
                f"{x.shape[1]} ({describe(x)})."
            )
        return x, y

    def follow(self, x: torch.Tensor) -> None:
        """Move the module's parameters and buffers to ``x``'s device and floating dtype."""
        place = (x.device, x.dtype)
        if self._place != place:
            if any(True for _ in self.parameters()) or any(True for _ in self.buffers()):
                self.to(device=x.device, dtype=x.dtype)
            self._place = place

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(N,) distances between ``x[i]`` and ``y[i]``; differentiable in both."""
        x, y = self.check(x, y)
        self.follow(x)
        return self.between(self.embed(x), self.embed(y))

    def embed_batched(self, x: torch.Tensor, batch_size: int = 64) -> Embedding:
        """:meth:`embed` over ``x`` in chunks of ``batch_size`` (rows kept in order)."""
        x = check_images(x, "images")
        self.follow(x)
        parts = [self.embed(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
        if not parts:
            raise ShapeError(f"{self.name}: no images to embed, received {describe(x)}.")
        return _cat(parts)

    def pairwise(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N, M) distances between every ``x[i]`` and every ``y[j]`` (embeds each image once)."""
        x, y = check_images(x, "x"), check_images(y, "y")
        if x.shape[1:] != y.shape[1:]:
            raise ShapeError(
                f"{self.name}: x and y must share (C, H, W), received {describe(x)} and {describe(y)}."
            )
        self.check(x[:1], y[:1])
        ex, ey = self.embed_batched(x, batch_size), self.embed_batched(y, batch_size)
        n, m = x.shape[0], y.shape[0]
        rows = torch.arange(n).repeat_interleave(m)
        cols = torch.arange(m).repeat(n)
        out = [
            self.between(take(ex, rows[s : s + batch_size]), take(ey, cols[s : s + batch_size]))
            for s in range(0, n * m, batch_size)
        ]
        return torch.cat(out).reshape(n, m)

    def components(self) -> list[Distance]:
        """The distances this one averages (itself for a single distance)."""
        return [self]

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


class MeanDistance(Distance):
    """The mean of several distances: ``d(x, y) = mean_k d_k(x, y)``.

    The components keep their own scales (LPIPS variants differ by a factor of a few); the mean is
    what an optimiser sees. To average *decisions* instead (as the 2AFC score over four LPIPS
    variants does), iterate over :meth:`components`.
    """

    def __init__(self, parts: Sequence[Distance], name: str | None = None) -> None:
        super().__init__()
        if not parts:
            raise ShapeError("A mean of distances needs at least one distance.")
        self.parts = nn.ModuleList(parts)
        self.name = name or "mean(" + ", ".join(p.name for p in parts) + ")"

    def _dists(self) -> list[Distance]:
        return [cast(Distance, p) for p in self.parts]

    def embed(self, x: torch.Tensor) -> Embedding:
        return tuple(p.embed(x) for p in self._dists())

    def between(self, ex: Embedding, ey: Embedding) -> torch.Tensor:
        vals = [p.between(a, b) for p, a, b in zip(self._dists(), ex, ey, strict=True)]
        return torch.stack(vals).mean(0)

    def follow(self, x: torch.Tensor) -> None:
        for p in self._dists():
            p.follow(x)

    def components(self) -> list[Distance]:
        return [c for p in self._dists() for c in p.components()]


class CallableDistance(Distance):
    """Wrap a user function ``f(x, y) -> (N,)`` so it is validated and usable everywhere."""

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], name: str | None = None):
        super().__init__()
        self.fn = fn
        self.name = name or str(getattr(fn, "__name__", "custom"))

    def between(self, ex: Embedding, ey: Embedding) -> torch.Tensor:
        out = self.fn(ex, ey)
        if not isinstance(out, torch.Tensor) or out.shape != (_rows(ex),):
            raise ShapeError(
                f"The distance function {self.name!r} must return an (N,) tensor for N = "
                f"{_rows(ex)} image pairs, returned {describe(out)}."
            )
        return out
