"""Composable loss terms: per-sample functions of the optimisation state that add and scale.

A :class:`Term` maps a :class:`LossContext` to an (n,) tensor, one value per active sample.
Terms combine with ``+``, ``-``, unary ``-`` and multiplication by numbers (or other terms), so a
loss reads like its formula:

Example:
    >>> import torch
    >>> from repalign.metamers.regularizers import total_variation
    >>> loss = 10 * DIST + 5e-4 * image_term(total_variation)
    >>> ctx = LossContext(x=torch.rand(2, 1, 4, 4), dist=torch.ones(2))
    >>> loss(ctx).shape
    torch.Size([2])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

import torch

__all__ = ["DIST", "LossContext", "Term", "as_term", "image_term"]


@dataclass
class LossContext:
    """What a term may look at during one step.

    Attributes:
        x: (n, C, H, W) current images of the active samples, in [0, 1].
        dist: (n,) representation distance of each active sample (already combined over layers
            and models).
        target: (n, C, H, W) target images, or None.
        seed: (n, C, H, W) starting images, or None.
        rows: (n,) indices of the active samples among the ``size`` samples of the batch, or None
            when every sample is active.
        size: number of samples in the batch.
        state: storage that lives as long as the batch (e.g. a scale fixed at the first step);
            per-sample entries are kept at full ``size`` and read with ``rows``.
    """

    x: torch.Tensor
    dist: torch.Tensor
    target: torch.Tensor | None = None
    seed: torch.Tensor | None = None
    rows: torch.Tensor | None = None
    size: int = 0
    state: dict[str, Any] = field(default_factory=dict)

    def take(self, full: torch.Tensor) -> torch.Tensor:
        """Rows of a full-size per-sample tensor that belong to the active samples."""
        return full if self.rows is None else full.index_select(0, self.rows)


TermLike = Union["Term", float, int]


class Term:
    """A named per-sample loss term; see the module docstring.

    Args:
        fn: ``LossContext -> (n,) tensor``.
        name: readable formula, used in configs and logs.
    """

    def __init__(self, fn: Callable[[LossContext], torch.Tensor], name: str) -> None:
        self.fn = fn
        self.name = name

    def __call__(self, ctx: LossContext) -> torch.Tensor:
        return self.fn(ctx)

    def __add__(self, other: TermLike) -> Term:
        o = as_term(other)
        return Term(lambda c: self(c) + o(c), f"{self.name} + {o.name}")

    def __radd__(self, other: TermLike) -> Term:
        return as_term(other) + self

    def __sub__(self, other: TermLike) -> Term:
        o = as_term(other)
        return Term(lambda c: self(c) - o(c), f"{self.name} - {_paren(o.name)}")

    def __rsub__(self, other: TermLike) -> Term:
        return as_term(other) - self

    def __neg__(self) -> Term:
        return Term(lambda c: -self(c), f"-{_paren(self.name)}")

    def __mul__(self, other: TermLike) -> Term:
        o = as_term(other)
        return Term(lambda c: self(c) * o(c), f"{_paren(o.name)}*{_paren(self.name)}")

    def __rmul__(self, other: TermLike) -> Term:
        return self * other

    def __repr__(self) -> str:
        return f"Term({self.name})"


def _paren(name: str) -> str:
    return f"({name})" if (" + " in name or " - " in name) else name


def as_term(value: TermLike) -> Term:
    """A term from a number (constant for every sample) or a term (unchanged)."""
    if isinstance(value, Term):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
        return Term(lambda c: c.x.new_full((c.x.shape[0],), v), f"{v:g}")
    raise TypeError(f"cannot combine a loss term with {type(value).__name__}")


def image_term(fn: Callable[[torch.Tensor], torch.Tensor], name: str | None = None) -> Term:
    """A term from a function of the images alone, ``(n, C, H, W) -> (n,)``."""
    return Term(lambda c: fn(c.x), str(name or getattr(fn, "__name__", "image_term")))


DIST = Term(lambda c: c.dist, "dist")
"""The representation distance of each sample."""
