"""The triplet likelihood, its gradient and VICE's prior against brute-force loops and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from repalign.embedding.likelihood import choice_probabilities, predicted_pair, triplet_nll
from repalign.embedding.models import VICE, SPoSE, SPoSEOptions, VICEOptions
from repalign.embedding.vice_prior import (
    converged,
    important_dimensions,
    spike_and_slab_logpdf,
)


def _loop_nll_and_grad(x: np.ndarray, triplets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean NLL and its gradient, one triplet and one coordinate at a time."""
    total, grad = 0.0, np.zeros_like(x)
    for a, b, c in triplets:
        s = [sum(x[a, d] * x[b, d] for d in range(x.shape[1])),
             sum(x[a, d] * x[c, d] for d in range(x.shape[1])),
             sum(x[b, d] * x[c, d] for d in range(x.shape[1]))]
        z = sum(math.exp(v) for v in s)
        p = [math.exp(v) / z for v in s]
        total += -math.log(p[0])
        # d(-log p0)/ds = p - e0; ds/dx via the products
        g = [p[0] - 1.0, p[1], p[2]]
        for d in range(x.shape[1]):
            grad[a, d] += g[0] * x[b, d] + g[1] * x[c, d]
            grad[b, d] += g[0] * x[a, d] + g[2] * x[c, d]
            grad[c, d] += g[1] * x[a, d] + g[2] * x[b, d]
    return total / len(triplets), grad / len(triplets)


def test_nll_and_gradient_match_brute_force_loop(rng):
    x = rng.gamma(1.0, size=(9, 4))
    triplets = np.array([rng.choice(9, 3, replace=False) for _ in range(40)])
    xt = torch.tensor(x, requires_grad=True)
    nll = triplet_nll(xt, torch.as_tensor(triplets))
    nll.backward()
    ref_nll, ref_grad = _loop_nll_and_grad(x, triplets)
    assert nll.item() == pytest.approx(ref_nll, rel=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), ref_grad, rtol=1e-10, atol=1e-12)
    per = triplet_nll(xt.detach(), torch.as_tensor(triplets), reduction="none")
    assert per.shape == (40,) and float(per.sum()) == pytest.approx(ref_nll * 40, rel=1e-12)


def test_choice_probabilities_and_predicted_pair(rng):
    x = torch.tensor(rng.normal(size=(6, 3)))
    items = torch.tensor([[0, 1, 2], [3, 4, 5]])
    p = choice_probabilities(x, items)
    torch.testing.assert_close(p.sum(1), torch.ones(2, dtype=p.dtype))
    for row, (a, b, c) in enumerate(items.tolist()):
        s = [float(x[a] @ x[b]), float(x[a] @ x[c]), float(x[b] @ x[c])]
        assert int(predicted_pair(x, items)[row]) == int(np.argmax(s))
        np.testing.assert_allclose(p[row].numpy(), np.exp(s) / np.exp(s).sum(), rtol=1e-12)


@pytest.mark.parametrize("prior", ["gaussian", "laplace"])
def test_spike_and_slab_matches_scipy(prior):
    x = np.linspace(-3, 3, 41)
    dist = stats.norm if prior == "gaussian" else stats.laplace
    ref = np.log(0.6 * dist.pdf(x, scale=0.25) + 0.4 * dist.pdf(x, scale=1.0))
    got = spike_and_slab_logpdf(torch.tensor(x), spike=0.25, slab=1.0, pi=0.6, prior=prior)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12)


def test_vice_loss_is_the_published_objective_and_its_gradient_is_right():
    gen = torch.Generator().manual_seed(0)
    model = VICE(7, 3, VICEOptions(), generator=gen, device=torch.device("cpu"), dtype=torch.float64)
    with torch.no_grad():
        model.log_sigma.fill_(-1.0)
    batch = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 0, 3]])
    sample_gen = torch.Generator().manual_seed(5)
    loss, parts = model.loss(batch, 100, sample_gen)
    # the same draw, by hand: x = mu + sigma * eps, NLL on relu(x), (log q - log p) / n_train
    eps = torch.randn(model.mu.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    mu, sigma = model.mu.detach().numpy(), np.exp(-1.0)
    x = mu + sigma * eps.numpy()
    nll, _ = _loop_nll_and_grad(np.maximum(x, 0), batch.numpy())
    log_q = stats.norm.logpdf(x, mu, sigma).sum()
    log_p = np.log(0.6 * stats.norm.pdf(x, scale=0.25) + 0.4 * stats.norm.pdf(x, scale=1.0)).sum()
    assert parts["nll"].item() == pytest.approx(nll, rel=1e-10)
    assert loss.item() == pytest.approx(nll + (log_q - log_p) / 100, rel=1e-10)

    def f(m: torch.Tensor, ls: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            model.mu.copy_(m)
            model.log_sigma.copy_(ls)
        return model.loss(batch, 100, torch.Generator().manual_seed(5))[0]

    loss = f(model.mu.detach().clone(), model.log_sigma.detach().clone())
    loss.backward()
    h = 1e-6
    for tensor in (model.mu, model.log_sigma):
        for idx in [(0, 0), (3, 1), (6, 2)]:
            base_mu, base_ls = model.mu.detach().clone(), model.log_sigma.detach().clone()
            target = base_mu if tensor is model.mu else base_ls
            target[idx] += h
            up = f(base_mu, base_ls).item()
            target[idx] -= 2 * h
            down = f(base_mu, base_ls).item()
            assert float(tensor.grad[idx]) == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8)


def test_spose_loss_is_nll_plus_scaled_l1_and_projection_keeps_weights_non_negative(rng):
    gen = torch.Generator().manual_seed(0)
    model = SPoSE(8, 4, SPoSEOptions(lam=0.5), generator=gen, device=torch.device("cpu"),
                  dtype=torch.float64)
    batch = torch.tensor([[0, 1, 2], [5, 6, 7]])
    loss, _ = model.loss(batch, 2, gen)
    w = model.weights.detach().numpy()
    nll, _ = _loop_nll_and_grad(w, batch.numpy())
    assert loss.item() == pytest.approx(nll + 0.5 / 8 * np.abs(w).sum(), rel=1e-12)
    with torch.no_grad():
        model.weights -= 1.0
    model.project()
    assert float(model.weights.detach().min()) == 0.0


def test_vice_pruning_counts_objects_after_fdr_and_convergence_rule():
    n, d = 50, 3
    loc = np.full((n, d), -1.0)
    loc[:10, 0] = 3.0   # 10 objects clearly > 0 on dimension 0
    loc[:4, 1] = 3.0    # only 4 on dimension 1: not more than k = 5
    scale = np.full((n, d), 0.5)
    assert important_dimensions(loc, scale, k=5).tolist() == [0]
    assert important_dimensions(loc, scale, k=3).tolist() == [0, 1]
    assert converged([5, 4, 4, 4], 3) and not converged([5, 4, 4], 3)
    assert not converged([0, 0, 0], 3) and not converged([4, 4], 3)


def _bh_rejections(p: np.ndarray, alpha: float) -> int:
    """How many p-values Benjamini-Hochberg's step-up rule rejects, from the sorted values."""
    m = len(p)
    passing = [i for i, v in enumerate(sorted(p), start=1) if v <= i / m * alpha]
    return max(passing, default=0)


def test_vice_pruning_is_benjamini_hochberg_per_dimension():
    rng = np.random.default_rng(3)
    n, d = 40, 12
    loc = rng.normal(0.0, 1.5, (n, d)) + np.linspace(-1, 3, d)
    scale = rng.uniform(0.2, 1.0, (n, d))
    pvals = stats.norm.cdf(0.0, loc=loc, scale=scale)
    counts = [_bh_rejections(pvals[:, j], 0.05) for j in range(d)]
    assert 0 < min(counts) < max(counts) < n  # the rule matters: neither none nor all
    for k in (0, 5, 20):
        expected = [j for j in range(d) if counts[j] > k]
        assert important_dimensions(loc, scale, k=k, alpha=0.05).tolist() == expected
    multitest = pytest.importorskip("statsmodels.stats.multitest",
                                    reason="statsmodels (the dev extra) is the reference")
    assert counts == [int(multitest.multipletests(pvals[:, j], alpha=0.05, method="fdr_bh")[0].sum())
                      for j in range(d)]


@pytest.mark.parametrize("prior", ["gaussian", "laplace"])
def test_hand_written_vice_gradient_equals_autograd_of_the_objective(prior):
    gen = torch.Generator().manual_seed(0)
    model = VICE(12, 5, VICEOptions(prior=prior), generator=gen, device=torch.device("cpu"),
                 dtype=torch.float64)
    with torch.no_grad():
        model.log_sigma.uniform_(-2.0, 0.0, generator=gen)
    batch = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 0, 3], [7, 8, 11], [9, 10, 1]])
    loss, _ = model.loss(batch, 40, torch.Generator().manual_seed(9))
    loss.backward()
    ref = [p.grad.clone() for p in model.params]
    parts = model.backward(batch, 40, torch.Generator().manual_seed(9))
    for got, want in zip(model.params, ref, strict=True):
        torch.testing.assert_close(got.grad, want, rtol=1e-10, atol=1e-12)
    assert parts["nll"].item() == pytest.approx(
        model.loss(batch, 40, torch.Generator().manual_seed(9))[1]["nll"].item(), rel=1e-12)


def test_hand_written_spose_gradient_equals_autograd_of_the_objective():
    gen = torch.Generator().manual_seed(0)
    model = SPoSE(10, 4, SPoSEOptions(lam=0.3), generator=gen, device=torch.device("cpu"),
                  dtype=torch.float64)
    batch = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 0, 5]])
    loss, _ = model.loss(batch, 4, gen)
    loss.backward()
    ref = model.weights.grad.clone()
    model.backward(batch, 4, gen)
    torch.testing.assert_close(model.weights.grad, ref, rtol=1e-10, atol=1e-12)
