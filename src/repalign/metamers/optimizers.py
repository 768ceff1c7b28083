"""Optimizers of metamer generation; every one treats the samples (first dimension) independently.

- ``normalized_gd``: the published step, ``x <- x - lr * g / ||g||_2`` with the norm taken per
  sample (Feather's and Nanda's L2 "PGD" step with an unbounded ball).
- ``sgd``, ``sgd_momentum`` (momentum 0.9), ``adam``: :mod:`torch.optim`.

The loop sums per-sample losses, so a sample's gradient does not depend on the batch around it.

Example:
    >>> import torch
    >>> p = torch.ones(2, 3, requires_grad=True)
    >>> opt = get_optimizer("normalized_gd")([p], lr=1.0)
    >>> (p * torch.tensor([[1.0, 0, 0], [0, 2.0, 0]])).sum().backward()
    >>> opt.step(); p.detach()
    tensor([[0., 1., 1.],
            [1., 0., 1.]])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from repalign._registry import Registry, Summary

__all__ = ["OPTIMIZERS", "NormalizedGD", "get_optimizer", "list_optimizers"]

OptimizerFactory = Callable[..., torch.optim.Optimizer]
OPTIMIZERS: Registry[OptimizerFactory, Summary] = Registry("optimizer", Summary)


class NormalizedGD(torch.optim.Optimizer):
    """Gradient descent with the gradient of each sample scaled to unit L2 norm.

    Args:
        params: tensors whose first dimension indexes samples.
        lr: step length in the parameter space (L2 norm of each sample's step).
        eps: added to the norm (a zero gradient gives a zero step).
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1.0, eps: float = 1e-12) -> None:
        super().__init__(params, {"lr": lr, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                norm = torch.linalg.vector_norm(g.flatten(1), dim=1).add_(group["eps"])
                p.addcdiv_(g, norm.view(-1, *([1] * (g.ndim - 1))), value=-group["lr"])
        return loss


OPTIMIZERS.register("normalized_gd", NormalizedGD, summary="per-sample unit-norm gradient step")


@OPTIMIZERS.register("sgd", summary="plain gradient descent")
def _sgd(params: Iterable[torch.Tensor], lr: float, **kw: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, **kw)


@OPTIMIZERS.register("sgd_momentum", summary="SGD with momentum 0.9 (Nesterov off)")
def _sgd_momentum(
    params: Iterable[torch.Tensor], lr: float, momentum: float = 0.9, **kw: Any
) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, **kw)


@OPTIMIZERS.register("adam", summary="Adam")
def _adam(params: Iterable[torch.Tensor], lr: float, **kw: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, **kw)


def get_optimizer(spec: Any) -> OptimizerFactory:
    """The optimizer factory ``(params, lr, **options) -> Optimizer`` called ``spec``."""
    return OPTIMIZERS.get(spec)


def list_optimizers(pattern: str = "*") -> list[str]:
    """Registered optimizers."""
    return OPTIMIZERS.list(pattern)
