"""Projected gradient descent (PGD) attacks in pixel space, L2 and Linf, and robust accuracy.

The attack maximises a loss inside the ball ``||x_adv - x|| <= eps`` (per image) intersected with
the valid pixel range [0, 1]: Madry et al.'s PGD with an optional random start, steps of
``step_size`` along the sign of the gradient (Linf) or the normalised gradient (L2), and a
projection after each step. Gradients are taken with respect to the input only; the model's
parameters receive none and its train/eval mode is left as the caller set it.

Example:
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x, y = torch.rand(3, 1, 2, 2), torch.tensor([0, 1, 0])
    >>> adv = pgd_attack(net, x, y, eps=0.1, norm="linf", steps=5)
    >>> bool(((adv - x).abs().amax() <= 0.1 + 1e-6) and adv.min() >= 0 and adv.max() <= 1)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from repalign.errors import ConfigError

__all__ = ["NORMS", "accuracy", "pgd", "pgd_attack", "project", "robust_accuracy"]

Norm = Literal["l2", "linf"]
NORMS: tuple[str, ...] = ("l2", "linf")


def _check_norm(norm: str, eps: float) -> None:
    if norm not in NORMS:
        raise ConfigError(f"norm must be one of {NORMS}, received {norm!r}.")
    if not eps >= 0:
        raise ConfigError(f"eps must be >= 0, received {eps!r}.")


def _per_image_norm(t: torch.Tensor) -> torch.Tensor:
    """L2 norm of each image, shaped (N, 1, 1, ...) for broadcasting."""
    norms: torch.Tensor = t.flatten(1).norm(dim=1)
    return norms.clamp_min(1e-12).view(-1, *([1] * (t.ndim - 1)))


def project(delta: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project a perturbation into the eps-ball of ``norm`` and keep ``x + delta`` in [0, 1]."""
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * (eps / _per_image_norm(delta)).clamp(max=1.0)
    # clamping to the pixel box shrinks every coordinate towards x, so the ball constraint holds
    return (x + delta).clamp(0.0, 1.0) - x


def _random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None
                  ) -> torch.Tensor:
    noise = torch.rand(x.shape, generator=generator, device="cpu", dtype=torch.float32)
    if norm == "linf":
        delta = (2.0 * noise - 1.0) * eps
    else:
        direction = torch.randn(x.shape, generator=generator, device="cpu", dtype=torch.float32)
        radius = torch.rand(x.shape[0], generator=generator, device="cpu").view(
            -1, *([1] * (x.ndim - 1))
        )
        delta = direction / _per_image_norm(direction) * radius * eps
    return project(delta.to(device=x.device, dtype=x.dtype), x, eps, norm)


def pgd(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    eps: float,
    norm: str = "linf",
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Maximise ``loss_fn(x_adv)`` over the eps-ball around ``x`` by projected gradient ascent.

    Args:
        loss_fn: maps a batch (N, ...) to a scalar loss to *maximise*; it should sum (not
            average) over images so each image's step does not depend on the batch size.
        x: (N, C, H, W) images in [0, 1].
        eps: radius of the ball in pixel units ([0, 1] scale).
        norm: ``"linf"`` or ``"l2"`` (per image).
        steps: number of gradient steps (0 returns ``x`` or the random start).
        step_size: step length; default ``2.5 * eps / steps`` (Madry et al.).
        random_start: start from a uniform point of the ball instead of ``x``.
        generator: CPU generator for the random start (reproducible attacks).

    Returns:
        (N, C, H, W) adversarial images, detached, with ``||x_adv - x|| <= eps`` and values in
        [0, 1].
    """
    _check_norm(norm, eps)
    if steps < 0:
        raise ConfigError(f"steps must be >= 0, received {steps}.")
    x = x.detach()
    if eps == 0:
        return x.clone()
    alpha = step_size if step_size is not None else 2.5 * eps / max(steps, 1)
    delta = _random_start(x, eps, norm, generator) if random_start else torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = loss_fn(x + delta)
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            if norm == "linf":
                step = grad.sign()
            else:
                step = grad / _per_image_norm(grad)
            delta = project(delta + alpha * step, x, eps, norm)
    return (x + delta).detach()


def pgd_attack(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "linf",
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Untargeted PGD on the cross-entropy of a classifier; see :func:`pgd` for the arguments.

    Args:
        model: maps (N, C, H, W) pixels in [0, 1] to (N, K) logits.
        y: (N,) int64 true labels.
    """

    def loss_fn(xa: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(xa), y, reduction="sum")

    return pgd(loss_fn, x, eps=eps, norm=norm, steps=steps, step_size=step_size,
               random_start=random_start, generator=generator)


@torch.no_grad()
def accuracy(model: nn.Module | Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
             y: torch.Tensor, batch_size: int = 512) -> float:
    """Share of images whose arg-max logit equals the label."""
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
    return correct / max(len(x), 1)


def robust_accuracy(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "linf",
    steps: int = 20,
    step_size: float | None = None,
    batch_size: int = 512,
    seed: int = 0,
) -> float:
    """Accuracy under a PGD attack of radius ``eps`` (random start, ``steps`` steps).

    An image counts as robust only if both the clean image and its adversarial version are
    classified correctly, so robust accuracy never exceeds clean accuracy.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> x, y = torch.rand(8, 1, 2, 2), torch.randint(0, 2, (8,))
        >>> robust_accuracy(net, x, y, eps=0.0) == accuracy(net, x, y)
        True
    """
    generator = torch.Generator().manual_seed(seed)
    correct = 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        adv = pgd_attack(model, xb, yb, eps=eps, norm=norm, steps=steps, step_size=step_size,
                         generator=generator)
        with torch.no_grad():
            ok = (model(xb).argmax(1) == yb) & (model(adv).argmax(1) == yb)
        correct += int(ok.sum())
    return correct / max(len(x), 1)
