"""rsm/rdm against scipy's distances, vector forms against squareform, input coercion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist, squareform

from repalign.errors import ShapeError, UnknownNameError
from repalign.similarity import as_dissimilarity, rdm, rsm, to_matrix, to_vector

SCIPY = {"cosine": "cosine", "correlation": "correlation", "euclidean": "euclidean",
         "sqeuclidean": "sqeuclidean"}


@pytest.mark.parametrize("metric", ["cosine", "correlation", "euclidean", "sqeuclidean"])
@pytest.mark.parametrize("block_size", [None, 7])
def test_rdm_matches_scipy(rng, metric, block_size):
    x = rng.normal(size=(23, 6)) + 2.0
    d = rdm(x, metric, block_size=block_size)
    assert d.dtype == np.float64
    np.testing.assert_allclose(d, cdist(x, x, SCIPY[metric]), atol=1e-10)
    assert np.array_equal(d, d.T) and np.all(np.diag(d) == 0)
    s = rsm(x, metric, block_size=block_size)
    expected = 1 - d if metric in ("cosine", "correlation") else -d
    np.testing.assert_allclose(s, expected, atol=1e-12)


@pytest.mark.parametrize("metric", ["cosine", "correlation", "euclidean", "sqeuclidean", "dot"])
def test_identical_rows_are_exactly_tied(rng, metric):
    x = rng.normal(size=(30, 7)) * 100
    x[[3, 11, 29]] = x[5]
    for mat in (rdm(x, metric), rsm(x, metric)):
        for i in (3, 11, 29):
            np.testing.assert_array_equal(mat[i], mat[5])
            np.testing.assert_array_equal(mat[:, i], mat[:, 5])
        assert mat[3, 11] == mat[5, 5] and np.array_equal(mat, mat.T)
    assert rdm(x, metric)[3, 5] == pytest.approx(-(x[5] @ x[5]) if metric == "dot" else 0.0,
                                                 abs=0, rel=1e-12)


def test_dot(rng):
    x = rng.normal(size=(9, 4))
    np.testing.assert_allclose(rsm(x, "dot"), x @ x.T, atol=1e-12)
    np.testing.assert_allclose(rdm(x, "dot"), -(x @ x.T), atol=1e-12)


def test_float32_input_is_computed_in_float64(rng):
    x = (rng.normal(size=(50, 3)) * 1e3).astype(np.float32)
    d = rdm(x, "euclidean")
    np.testing.assert_allclose(d, cdist(x.astype(np.float64), x.astype(np.float64)), rtol=1e-12)


def test_vector_roundtrip_matches_squareform(rng):
    d = rdm(rng.normal(size=(11, 3)))
    v = to_vector(d)
    np.testing.assert_array_equal(v, squareform(d, checks=False))
    np.testing.assert_array_equal(to_matrix(v), d)
    assert to_matrix(v, diagonal=1.0)[3, 3] == 1.0


def test_as_dissimilarity_kinds(rng):
    x = rng.normal(size=(8, 3))
    s = rsm(x, "cosine")
    np.testing.assert_allclose(as_dissimilarity(s, "similarity"), rdm(x, "cosine"), atol=1e-12)
    d = rdm(x)
    assert np.array_equal(as_dissimilarity(d, "dissimilarity"), d)
    assert np.array_equal(as_dissimilarity(x, "features", "euclidean"), d)


def test_errors(rng):
    x = rng.normal(size=(5, 3))
    with pytest.raises(UnknownNameError, match=r"Unknown pairwise metric 'cosin'.*Did you mean 'cosine'"):
        rdm(x, "cosin")
    with pytest.raises(ShapeError, match=r"1 row\(s\) are all-zero \(first: row 2\)"):
        rsm(np.vstack([x[:2], np.zeros((1, 3)), x[3:]]), "cosine")
    with pytest.raises(ShapeError, match=r"row\(s\) are constant"):
        rdm(np.vstack([x, np.full((1, 3), 4.0)]), "correlation")
    with pytest.raises(ShapeError, match=r"at least 2 features"):
        rdm(x[:, :1], "correlation")
    with pytest.raises(ShapeError, match=r"rank 2"):
        rdm(x[0])
    with pytest.raises(ShapeError, match=r"NaN or Inf"):
        rdm(np.where(x > 1, np.inf, x))
    with pytest.raises(ShapeError, match=r"N\(N-1\)/2 values"):
        to_matrix(np.ones(4))
    with pytest.raises(ShapeError, match=r"square"):
        as_dissimilarity(x, "dissimilarity")
    with pytest.raises(ShapeError, match=r"must be symmetric"):
        as_dissimilarity(rng.normal(size=(4, 4)), "similarity")
    with pytest.raises(UnknownNameError, match=r"Unknown input kind 'feature'"):
        as_dissimilarity(x, "feature")


def test_euclidean_rdm_keeps_the_ties_of_data_on_a_grid():
    """Data on a 0.1 grid has many pairs at exactly equal distances; the Gram-matrix shortcut
    rounded them apart (tau-b 0.2215814 against scipy's 0.2216073). Distances from differences
    are SciPy's pdist bit for bit, so tie-aware statistics agree with scipy.stats."""
    from scipy.spatial.distance import pdist
    from scipy.stats import kendalltau

    from repalign.similarity import compare
    from repalign.similarity.rsa import pair_vector

    rng = np.random.default_rng(0)
    x = np.round(rng.uniform(0, 1, size=(40, 3)), 1)
    y = np.round(rng.uniform(0, 1, size=(40, 3)), 1)
    for metric in ("euclidean", "sqeuclidean"):
        np.testing.assert_array_equal(pair_vector(rdm(x, metric)), pdist(x, metric))
    assert len(np.unique(pdist(x))) < len(pdist(x)) / 3  # the data does have ties
    ref = kendalltau(pdist(x), pdist(y), variant="b").statistic
    assert compare(x, y, "rsa_kendall_tau_b") == pytest.approx(ref, abs=1e-12)

    def gram(a):  # the shortcut that rounds ties apart: the check can fail
        sq = (a * a).sum(1)
        return np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * a @ a.T, 0))[np.triu_indices(40, 1)]

    assert abs(kendalltau(gram(x), gram(y), variant="b").statistic - ref) > 1e-6
    # blocks give the same matrix
    np.testing.assert_array_equal(rdm(x, block_size=7), rdm(x))
