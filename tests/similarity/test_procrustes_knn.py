"""Procrustes shape distance against scipy; mutual kNN against a brute-force loop."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import procrustes

from repalign.errors import ShapeError
from repalign.similarity import mutual_knn, procrustes_distance, rdm, rsm


def test_procrustes_matches_scipy_disparity(rng):
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(40, 5))
    _, _, disparity = procrustes(x, y)  # = 1 - rho^2 (scipy also fits a scale)
    rho = np.sqrt(1 - disparity)
    assert procrustes_distance(x, y) == pytest.approx(np.arccos(rho), abs=1e-10)
    assert procrustes_distance(x, y, angular=False) == pytest.approx(np.sqrt(2 - 2 * rho), abs=1e-10)


def test_procrustes_invariances_and_metric(rng):
    x, y, z = rng.normal(size=(30, 4)), rng.normal(size=(30, 6)), rng.normal(size=(30, 50))
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    d = procrustes_distance(x, y)
    assert procrustes_distance(x, 0.3 * y @ q - 7.0) == pytest.approx(d, abs=1e-10)
    perm = rng.permutation(30)
    assert procrustes_distance(x[perm], y[perm]) == pytest.approx(d, abs=1e-10)
    assert procrustes_distance(y, x) == pytest.approx(d, abs=1e-12)
    assert procrustes_distance(x, x) < 1e-7
    assert 0 <= d <= np.pi / 2
    # angular distance is a metric: triangle inequality; D > n uses the exact reduction
    assert procrustes_distance(x, z) <= procrustes_distance(x, y) + procrustes_distance(y, z) + 1e-12
    zp = np.hstack([z, np.zeros((30, 5))])
    assert procrustes_distance(x, zp) == pytest.approx(procrustes_distance(x, z), abs=1e-10)


def test_procrustes_errors(rng):
    x = rng.normal(size=(10, 3))
    with pytest.raises(ShapeError, match=r"y is constant across stimuli"):
        procrustes_distance(x, np.ones((10, 2)))
    with pytest.raises(ShapeError, match=r"same stimuli"):
        procrustes_distance(x, x[:8])
    with pytest.raises(ShapeError, match=r"at least 2 stimuli"):
        procrustes_distance(x[:1], x[:1])


def _knn_brute(dx, dy, k):
    shares = []
    for i in range(len(dx)):
        order_x = sorted((dx[i, j], j) for j in range(len(dx)) if j != i)[:k]
        order_y = sorted((dy[i, j], j) for j in range(len(dy)) if j != i)[:k]
        shares.append(len({j for _, j in order_x} & {j for _, j in order_y}) / k)
    return float(np.mean(shares))


@pytest.mark.parametrize("k", [1, 3, 10])
def test_mutual_knn_matches_brute_force(rng, k):
    x, y = rng.normal(size=(35, 3)), rng.normal(size=(35, 3))
    y[:10] = x[:10]
    dx, dy = rdm(x, "cosine"), rdm(y, "cosine")
    assert mutual_knn(x, y, k, metric="cosine") == pytest.approx(_knn_brute(dx, dy, k))
    # ties (integer grid) are broken by stimulus order, as in the loop
    xi, yi = rng.integers(0, 3, (35, 2)).astype(float), rng.integers(0, 3, (35, 2)).astype(float)
    assert mutual_knn(xi, yi, k) == pytest.approx(_knn_brute(rdm(xi), rdm(yi), k))
    assert mutual_knn(rsm(x, "cosine"), dy, k, kind=("similarity", "dissimilarity")) == \
        pytest.approx(_knn_brute(dx, dy, k))


def test_mutual_knn_errors(rng):
    x = rng.normal(size=(6, 2))
    with pytest.raises(ShapeError, match=r"k must be an integer in \[1, 5\]"):
        mutual_knn(x, x, k=6)
    with pytest.raises(ShapeError, match=r"k must be an integer"):
        mutual_knn(x, x, k=0)
