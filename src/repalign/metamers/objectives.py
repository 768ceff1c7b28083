"""Representation distances between a candidate's and its target's activations, per sample.

Each objective maps ``(features, target_features)``, both (N, ...), to an (N,) tensor; the loop
averages it over a sample's layers and combines it over models. The default, ``normalized_l2``,
is Feather's and Nanda's ``||g(x) - g(x_t)|| / ||g(x_t)||`` on flattened activations.

Example:
    >>> import torch
    >>> f, t = torch.ones(2, 4), torch.full((2, 4), 2.0)
    >>> get_objective("normalized_l2")(f, t)
    tensor([0.5000, 0.5000])
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from repalign._registry import Registry, Summary

__all__ = ["OBJECTIVES", "get_objective", "list_objectives"]

Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
OBJECTIVES: Registry[Objective, Summary] = Registry("objective", Summary)
_EPS = 1e-12


@OBJECTIVES.register("normalized_l2", summary="||g(x) - g(x_t)|| / ||g(x_t)|| (Feather, Nanda)")
def normalized_l2(f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Relative L2 distance of flattened activations: (N, ...) x (N, ...) -> (N,)."""
    diff = torch.linalg.vector_norm((f - t).flatten(1), dim=1)
    rel: torch.Tensor = diff / torch.linalg.vector_norm(t.flatten(1), dim=1).clamp_min(_EPS)
    return rel


@OBJECTIVES.register("cosine", summary="1 - cosine similarity of flattened activations")
def cosine(f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """One minus the cosine similarity: (N, ...) x (N, ...) -> (N,) in [0, 2]."""
    return 1.0 - torch.nn.functional.cosine_similarity(f.flatten(1), t.flatten(1), dim=1, eps=_EPS)


@OBJECTIVES.register("mse", summary="mean squared difference of activations")
def mse(f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Mean squared error per sample: (N, ...) x (N, ...) -> (N,)."""
    return (f - t).flatten(1).pow(2).mean(dim=1)


def get_objective(spec: str | Objective) -> Objective:
    """The objective called ``spec`` (a callable is passed through)."""
    return OBJECTIVES.get(spec)


def list_objectives(pattern: str = "*") -> list[str]:
    """Registered objective names matching ``pattern``."""
    return OBJECTIVES.list(pattern)
