"""The two trainable triplet models: SPoSE and VICE, each a set of tensors and its loss.

Both share the interface the training loop needs: ``params`` (the tensors Adam updates),
``loss(batch, n_train)`` (the mini-batch objective and its parts), ``project()`` (a constraint
applied after each step), ``embedding()`` (the current point estimate, all dimensions) and
``kept_dimensions()`` (the dimensions the method keeps).

- **SPoSE** (Zheng et al. 2019; Hebart et al. 2020): a non-negative embedding ``W`` (projected
  onto ``W >= 0`` after each step), loss = mean triplet NLL + ``lam / n_objects * ||W||_1``;
  initialised at ``N(0.1, 0.01^2)``; a dimension is kept when some object weighs more than
  ``prune_threshold`` on it.
- **VICE** (Muttenthaler et al. 2022): a Gaussian variational posterior ``N(mu, sigma^2)`` per
  entry; each step draws one sample ``X = mu + sigma * eps`` of the whole embedding, scores the
  batch with ``relu(X)`` and adds ``(log q(X) - log p(X)).sum() / n_train`` with the
  spike-and-slab prior ``p``. ``mu`` starts at Kaiming-normal (fan-out, ReLU) values and
  ``log sigma`` at ``-1 / std(mu)``. Its point estimate is ``relu(mu)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from repalign.embedding.likelihood import triplet_logits
from repalign.embedding.vice_prior import PRIORS, important_dimensions, spike_and_slab_logpdf
from repalign.errors import ConfigError

__all__ = ["VICE", "SPoSE", "SPoSEOptions", "VICEOptions"]


@dataclass(frozen=True)
class SPoSEOptions:
    """SPoSE's hyper-parameters (Hebart et al. 2020: ``lam = 0.008``)."""

    lam: float = 0.008
    init_mean: float = 0.1
    init_std: float = 0.01
    prune_threshold: float = 0.1

    def __post_init__(self) -> None:
        if self.lam < 0 or self.init_std < 0 or self.prune_threshold < 0:
            raise ConfigError(f"SPoSE options must be non-negative, received {self}.")


@dataclass(frozen=True)
class VICEOptions:
    """VICE's hyper-parameters (LukasMut/VICE's README: spike 0.25, slab 1, pi 0.6, k 5,
    window 200 epochs after a burn-in of 500). ``prune=False`` keeps every dimension with a
    positive mean somewhere (the convergence rule then counts those)."""

    prior: str = "gaussian"
    spike: float = 0.25
    slab: float = 1.0
    pi: float = 0.6
    k: int = 5
    alpha: float = 0.05
    window: int = 200
    burnin: int = 500
    prune: bool = True

    def __post_init__(self) -> None:
        if self.prior not in PRIORS:
            raise ConfigError(f"VICE prior must be one of {PRIORS}, received {self.prior!r}.")
        if not (0 < self.spike < self.slab) or not (0 < self.pi < 1):
            raise ConfigError(
                "VICE needs 0 < spike < slab and 0 < pi < 1, received "
                f"spike={self.spike}, slab={self.slab}, pi={self.pi}."
            )
        if self.k < 0 or self.window < 1 or self.burnin < 0 or not (0 < self.alpha < 1):
            raise ConfigError(
                f"VICE needs k >= 0, window >= 1, burnin >= 0, 0 < alpha < 1; received {self}."
            )


def _batch_nll(x: torch.Tensor, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean NLL of a batch and the number of its triplets the embedding gets right."""
    logits = triplet_logits(x, batch)
    nll = (torch.logsumexp(logits, -1) - logits[:, 0]).mean()
    hits = ((logits[:, 0] > logits[:, 1]) & (logits[:, 0] > logits[:, 2])).sum()
    return nll, hits


def _data_grad(z_rows: torch.Tensor, grad_out: torch.Tensor, batch: torch.Tensor,
               mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Add the gradient of the batch's mean NLL to ``grad_out`` (N, D), in place.

    ``z_rows`` (B, 3, D) are the embedded objects of the batch; ``mask`` (B, 3, D) optionally
    zeroes entries where the embedding is cut (VICE's ReLU). By hand: with ``p`` the softmax
    over ``(z_a.z_b, z_a.z_c, z_b.z_c)`` and ``g = (p - e_0) / B``,
    ``d/dz_a = g_0 z_b + g_1 z_c``, ``d/dz_b = g_0 z_a + g_2 z_c``, ``d/dz_c = g_1 z_a + g_2 z_b``.

    Returns:
        The batch's mean NLL and its number of correct predictions (0-dim tensors).
    """
    za, zb, zc = z_rows.unbind(1)
    logits = torch.stack([(za * zb).sum(-1), (za * zc).sum(-1), (zb * zc).sum(-1)], -1)
    lse = torch.logsumexp(logits, -1)
    nll = (lse - logits[:, 0]).mean()
    hits = ((logits[:, 0] > logits[:, 1]) & (logits[:, 0] > logits[:, 2])).sum()
    g = torch.exp(logits - lse[:, None])
    g[:, 0] -= 1.0
    g /= len(batch)
    g0, g1, g2 = (c[:, None] for c in g.unbind(1))
    grad = torch.stack([g0 * zb + g1 * zc, g0 * za + g2 * zc, g1 * za + g2 * zb], 1)
    if mask is not None:
        grad *= mask
    grad_out.index_add_(0, batch.reshape(-1), grad.reshape(-1, grad.shape[-1]))
    return nll, hits


class SPoSE:
    """Sparse positive similarity embedding (see the module docstring)."""

    def __init__(self, n_objects: int, dims: int, options: SPoSEOptions, *,
                 generator: torch.Generator, device: torch.device, dtype: torch.dtype,
                 init: tuple[np.ndarray, np.ndarray | None] | None = None) -> None:
        self.options = options
        self.n_objects = n_objects
        if init is not None:  # warm start from an earlier fit's weights
            w = torch.as_tensor(init[0], dtype=dtype).clone().clamp_(min=0)
        else:
            w = torch.randn(n_objects, dims, generator=generator, dtype=dtype)
            w = (options.init_mean + options.init_std * w).clamp_(min=0)
        self.weights = w.to(device).requires_grad_()
        self.params = [self.weights]

    def loss(self, batch: torch.Tensor, n_train: int, generator: torch.Generator
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        nll, hits = _batch_nll(self.weights, batch)
        complexity = self.options.lam / self.n_objects * self.weights.abs().sum()
        return nll + complexity, {"nll": nll, "complexity": complexity, "hits": hits}

    @torch.no_grad()
    def backward(self, batch: torch.Tensor, n_train: int, generator: torch.Generator
                 ) -> dict[str, torch.Tensor]:
        """Set ``.grad`` of the parameters to the gradient of :meth:`loss`, computed by hand
        (fewer passes over the (N, D) weights than autograd); returns the batch's parts."""
        w = self.weights
        grad = torch.sign(w).mul_(self.options.lam / self.n_objects)
        nll, hits = _data_grad(w[batch], grad, batch)
        w.grad = grad
        return {"nll": nll, "hits": hits}

    def complexity(self, n_train: int, generator: torch.Generator) -> float:
        """The L1 term of the loss at the current weights."""
        return float(self.options.lam / self.n_objects * self.weights.detach().abs().sum())

    @torch.no_grad()
    def project(self) -> None:
        self.weights.clamp_(min=0)

    def embedding(self) -> torch.Tensor:
        return self.weights.detach()

    def kept_dimensions(self) -> np.ndarray:
        peak = self.weights.detach().amax(0).cpu().numpy()
        return np.flatnonzero(peak > self.options.prune_threshold).astype(np.int64)

    def state(self) -> dict[str, Any]:
        return {"weights": self.weights.detach().cpu()}

    @torch.no_grad()
    def load_state(self, state: dict[str, Any]) -> None:
        self.weights.copy_(state["weights"])


class VICE:
    """Variational interpretable concept embedding (see the module docstring)."""

    def __init__(self, n_objects: int, dims: int, options: VICEOptions, *,
                 generator: torch.Generator, device: torch.device, dtype: torch.dtype,
                 init: tuple[np.ndarray, np.ndarray | None] | None = None) -> None:
        self.options = options
        std = math.sqrt(2.0 / dims)  # Kaiming normal, fan_out = dims, gain sqrt(2) for ReLU
        mu = std * torch.randn(n_objects, dims, generator=generator, dtype=dtype)
        log_sigma = torch.full_like(mu, -1.0 / float(mu.std()))
        if init is not None:  # warm start from an earlier fit's means (and scales)
            mu = torch.as_tensor(init[0], dtype=dtype).clone()
            if init[1] is not None:
                log_sigma = torch.as_tensor(init[1], dtype=dtype).log()
        self.mu = mu.to(device).requires_grad_()
        self.log_sigma = log_sigma.to(device).requires_grad_()
        self.params = [self.mu, self.log_sigma]

    def loss(self, batch: torch.Tensor, n_train: int, generator: torch.Generator
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        o = self.options
        eps = torch.randn(self.mu.shape, generator=generator, dtype=self.mu.dtype,
                          device=self.mu.device)
        x = self.mu + self.log_sigma.exp() * eps
        nll, hits = _batch_nll(torch.relu(x), batch)
        # log q(x) with x = mu + sigma * eps is -eps^2 / 2 - log sigma - log(2 pi) / 2
        log_q = (-0.5 * eps.square() - self.log_sigma).sum() - 0.5 * math.log(2 * math.pi) * eps.numel()
        log_p = spike_and_slab_logpdf(x, spike=o.spike, slab=o.slab, pi=o.pi, prior=o.prior).sum()
        complexity = (log_q - log_p) / n_train
        return nll + complexity, {"nll": nll, "complexity": complexity, "hits": hits}

    @torch.no_grad()
    def backward(self, batch: torch.Tensor, n_train: int, generator: torch.Generator
                 ) -> dict[str, torch.Tensor]:
        """Set ``.grad`` of ``mu`` and ``log_sigma`` to the gradient of :meth:`loss` for the
        same draw, computed by hand; returns the batch's parts.

        With ``x = mu + s eps``: ``d/dx (-log p(x)) = x w(x)`` for the Gaussian mixture, where
        ``w = r / spike^2 + (1 - r) / slab^2`` and ``r`` is the spike's responsibility
        (``sign(x) (r / spike + (1 - r) / slab)`` for the Laplace one); ``d/dlog s`` of
        ``log q`` is ``-1``; ``d/dmu = dx``, ``d/dlog s = dx * s * eps``.
        """
        o = self.options
        eps = torch.randn(self.mu.shape, generator=generator, dtype=self.mu.dtype,
                          device=self.mu.device)
        se = self.log_sigma.exp().mul_(eps)
        x = se + self.mu
        a, b = o.spike, o.slab
        if o.prior == "gaussian":
            logit_r = torch.mul(x, x).mul_(-0.5 * (1 / a**2 - 1 / b**2))
            logit_r += math.log(o.pi / a) - math.log((1 - o.pi) / b)
            w = torch.sigmoid_(logit_r).mul_((1 / a**2 - 1 / b**2) / n_train).add_(1 / (b**2 * n_train))
            dx = w.mul_(x)
        else:
            logit_r = torch.abs(x).mul_(-(1 / a - 1 / b))
            logit_r += math.log(o.pi / a) - math.log((1 - o.pi) / b)
            w = torch.sigmoid_(logit_r).mul_((1 / a - 1 / b) / n_train).add_(1 / (b * n_train))
            dx = w.mul_(torch.sign(x))
        rows = x[batch]
        nll, hits = _data_grad(torch.relu(rows), dx, batch, mask=rows > 0)
        self.mu.grad = dx
        self.log_sigma.grad = torch.mul(dx, se).sub_(1.0 / n_train)
        return {"nll": nll, "hits": hits}

    @torch.no_grad()
    def complexity(self, n_train: int, generator: torch.Generator) -> float:
        """One-sample estimate of ``(log q(X) - log p(X)) / n_train`` at the current posterior."""
        o = self.options
        eps = torch.randn(self.mu.shape, generator=generator, dtype=self.mu.dtype,
                          device=self.mu.device)
        x = self.mu + self.log_sigma.exp() * eps
        log_q = (-0.5 * eps.square() - self.log_sigma).sum() - 0.5 * math.log(2 * math.pi) * eps.numel()
        log_p = spike_and_slab_logpdf(x, spike=o.spike, slab=o.slab, pi=o.pi, prior=o.prior).sum()
        return float((log_q - log_p) / n_train)

    def project(self) -> None:
        return None

    def embedding(self) -> torch.Tensor:
        return torch.relu(self.mu.detach())

    def scale(self) -> torch.Tensor:
        return self.log_sigma.detach().exp()

    def kept_dimensions(self) -> np.ndarray:
        if not self.options.prune:
            peak = self.mu.detach().amax(0).cpu().numpy()
            return np.flatnonzero(peak > 0).astype(np.int64)
        return important_dimensions(self.mu.detach().cpu().double().numpy(),
                                    self.scale().cpu().double().numpy(),
                                    k=self.options.k, alpha=self.options.alpha)

    def state(self) -> dict[str, Any]:
        return {"mu": self.mu.detach().cpu(), "log_sigma": self.log_sigma.detach().cpu()}

    @torch.no_grad()
    def load_state(self, state: dict[str, Any]) -> None:
        self.mu.copy_(state["mu"])
        self.log_sigma.copy_(state["log_sigma"])
