"""gLocal's loss terms against direct formulas written as plain loops (float64, tiny cases)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from repalign.alignment.losses import (
    global_triplet_loss,
    glocal_loss,
    identity_pull,
    local_contrastive_loss,
    off_diagonal,
    teacher_distribution,
)


def _global_loop(z: np.ndarray, triplets: np.ndarray) -> float:
    total = 0.0
    for a, b, c in triplets:
        s = [z[a] @ z[b], z[a] @ z[c], z[b] @ z[c]]
        total += -s[0] + math.log(sum(math.exp(v) for v in s))
    return total / len(triplets)


def _cos(u: np.ndarray, v: np.ndarray) -> float:
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def _local_loop(teacher: np.ndarray, student: np.ndarray, tau: float) -> float:
    n = len(teacher)
    total = 0.0
    for i in range(n):
        others = [j for j in range(n) if j != i]
        pt = [math.exp(_cos(teacher[i], teacher[j]) / tau) for j in others]
        ps = [math.exp(_cos(student[i], student[j]) / tau) for j in others]
        zt, zs = sum(pt), sum(ps)
        total += -sum((p / zt) * math.log(q / zs) for p, q in zip(pt, ps, strict=True))
    return total / n


def _pull_loop(w: np.ndarray) -> float:
    d = len(w)
    m = sum(w[i, i] for i in range(d)) / d
    return sum((w[i, j] - (m if i == j else 0.0)) ** 2 for i in range(d) for j in range(d))


@pytest.fixture
def case(rng):
    x = rng.normal(size=(7, 4))
    w = rng.normal(size=(4, 4)) * 0.5 + np.eye(4)
    b = rng.normal(size=4) * 0.1
    triplets = np.array([[0, 1, 2], [3, 4, 5], [6, 0, 3], [2, 5, 1], [4, 6, 0]])
    x_local = rng.normal(size=(5, 4))
    return x, w, b, triplets, x_local


def test_global_term_matches_loop(case):
    x, w, b, triplets, _ = case
    z = x @ w + b
    got = float(global_triplet_loss(torch.from_numpy(z), torch.from_numpy(triplets)))
    assert got == pytest.approx(_global_loop(z, triplets), rel=1e-12)


def test_local_term_matches_loop(case):
    _, w, b, _, x_local = case
    student = x_local @ w + b
    for tau in (1.0, 0.5, 0.1):
        got = float(local_contrastive_loss(torch.from_numpy(x_local), torch.from_numpy(student), tau))
        assert got == pytest.approx(_local_loop(x_local, student, tau), rel=1e-12)


def test_pull_matches_loop(case):
    _, w, *_ = case
    assert float(identity_pull(torch.from_numpy(w))) == pytest.approx(_pull_loop(w), rel=1e-12)
    assert float(identity_pull(torch.eye(5, dtype=torch.float64) * 3.0)) == 0.0


def test_total_matches_loop_and_terms(case):
    x, w, b, triplets, x_local = case
    alpha, lam, tau = 0.3, 0.7, 0.5
    t = {k: torch.from_numpy(v) for k, v in dict(x=x, w=w, b=b, t=triplets, xl=x_local).items()}
    out = glocal_loss(t["x"], t["t"], t["w"], t["b"], t["xl"], alpha=alpha, lam=lam, tau=tau)
    g = _global_loop(x @ w + b, triplets)
    loc = _local_loop(x_local, x_local @ w + b, tau)
    pull = _pull_loop(w)
    assert float(out["global"]) == pytest.approx(g, rel=1e-12)
    assert float(out["local"]) == pytest.approx(loc, rel=1e-12)
    assert float(out["pull"]) == pytest.approx(pull, rel=1e-12)
    assert float(out["loss"]) == pytest.approx((1 - alpha) * g + alpha * loc + lam * pull, rel=1e-12)
    # precomputed teacher probabilities give the same value
    probs = teacher_distribution(t["xl"], tau)
    again = glocal_loss(t["x"], t["t"], t["w"], t["b"], t["xl"], alpha=alpha, lam=lam, tau=tau,
                        teacher_probs=probs)
    assert float(again["loss"]) == pytest.approx(float(out["loss"]), rel=1e-12)
    # without auxiliary stimuli the local term is zero
    none = glocal_loss(t["x"], t["t"], t["w"], t["b"], None, alpha=alpha, lam=lam, tau=tau)
    assert float(none["local"]) == 0.0
    assert float(none["loss"]) == pytest.approx((1 - alpha) * g + lam * pull, rel=1e-12)


def test_local_term_is_minimal_at_scaled_identity(case):
    """Cross-entropy >= the teacher's entropy, with equality when cosines are unchanged."""
    _, w, _, _, x_local = case
    xl = torch.from_numpy(x_local)
    p = teacher_distribution(xl, 0.5)
    entropy = float(-(p * p.log()).sum(-1).mean())
    at_identity = float(local_contrastive_loss(xl, 3.0 * xl, 0.5))
    assert at_identity == pytest.approx(entropy, rel=1e-12)
    assert float(local_contrastive_loss(xl, xl @ torch.from_numpy(w), 0.5)) > entropy


def test_off_diagonal_removes_exactly_the_diagonal():
    m = torch.arange(16.0).view(4, 4)
    expect = torch.stack([torch.cat([m[i, :i], m[i, i + 1 :]]) for i in range(4)])
    assert torch.equal(off_diagonal(m), expect)


def test_losses_are_differentiable(case):
    x, w, _, triplets, x_local = case
    wt = torch.from_numpy(w).requires_grad_()
    out = glocal_loss(torch.from_numpy(x), torch.from_numpy(triplets), wt, None,
                      torch.from_numpy(x_local), alpha=0.5, lam=1.0, tau=1.0)
    out["loss"].backward()
    assert wt.grad is not None and torch.isfinite(wt.grad).all() and wt.grad.abs().sum() > 0
