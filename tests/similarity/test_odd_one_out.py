"""Odd-one-out accuracy against a brute-force loop, its tie rule, inputs and the real THINGS data."""

from __future__ import annotations

import numpy as np
import pytest

import repalign.similarity.triplets as ooo
from repalign.data.triplets import TripletSet, load_triplets
from repalign.errors import ShapeError, UnknownNameError
from repalign.similarity import odd_one_out_accuracy, odd_one_out_correct


def _triplets(rng, n, t):
    return np.array([rng.choice(n, 3, replace=False) for _ in range(t)])


def _brute_force(x, triplets, similarity):
    def sim(a, b):
        if similarity == "cosine":
            return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        if similarity == "dot":
            return float(a @ b)
        return -float(np.linalg.norm(a - b))

    out = []
    for i, j, k in triplets:
        s_ij, s_ik, s_jk = sim(x[i], x[j]), sim(x[i], x[k]), sim(x[j], x[k])
        out.append(s_ij > s_ik and s_ij > s_jk)
    return np.array(out)


@pytest.mark.parametrize("similarity", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("path", ["matrix", "rows"])
def test_matches_brute_force(rng, monkeypatch, similarity, path):
    if path == "rows":
        monkeypatch.setattr(ooo, "_MATRIX_LIMIT", 0)
        monkeypatch.setattr(ooo, "_BLOCK", 37)  # several blocks
    x = rng.normal(size=(30, 4))
    t = _triplets(rng, 30, 300)
    expected = _brute_force(x, t, similarity)
    got = odd_one_out_correct(x, t, similarity)
    assert got.dtype == bool and np.array_equal(got, expected)
    assert odd_one_out_accuracy(x, t, similarity) == pytest.approx(expected.mean(), abs=0)


def test_matrix_inputs(rng):
    x = rng.normal(size=(25, 6))
    t = _triplets(rng, 25, 200)
    s = x @ x.T
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    assert np.array_equal(odd_one_out_correct(s, t, kind="similarity"), _brute_force(x, t, "dot"))
    assert np.array_equal(odd_one_out_correct(d, t, kind="dissimilarity"),
                          _brute_force(x, t, "euclidean"))


def test_ties_count_as_wrong():
    x = np.ones((4, 3))  # every pair equally similar: a three-way tie is wrong under both rules
    t = np.array([[0, 1, 2], [1, 2, 3]])
    assert odd_one_out_accuracy(x, t, "dot") == 0.0
    assert odd_one_out_accuracy(x, t, "dot", ties="strict") == 0.0
    y = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # s01 == s02 exactly
    assert odd_one_out_accuracy(y, np.array([[0, 1, 2]]), "cosine", ties="strict") == 0.0
    assert odd_one_out_accuracy(y, np.array([[0, 1, 3]]), "cosine", ties="strict") == 1.0
    with pytest.raises(UnknownNameError, match="ties rule"):
        odd_one_out_accuracy(y, np.array([[0, 1, 3]]), ties="half")


def _reference_argmax(x, triplets):
    """The THINGS/gLocal rule written as a loop: the model's choice is np.argmax over the three
    pair similarities (a two-way tie with the human pair goes to it), a three-way tie is wrong."""
    out = []
    for i, j, k in triplets:
        sims = [float(x[i] @ x[j]), float(x[i] @ x[k]), float(x[j] @ x[k])]
        out.append(len(set(sims)) > 1 and int(np.argmax(sims)) == 0)
    return np.array(out)


def test_default_ties_follow_the_reference_argmax(rng):
    x = rng.integers(0, 3, size=(12, 2)).astype(float)  # quantised: many exact ties
    t = _triplets(rng, 12, 400)
    ref = _reference_argmax(x, t)
    got = odd_one_out_correct(x, t, "dot")
    assert np.array_equal(got, ref)
    strict = odd_one_out_correct(x, t, "dot", ties="strict")
    assert np.array_equal(strict, _brute_force(x, t, "dot"))
    assert got.sum() > strict.sum()  # the rules do differ on these ties


def test_invariant_to_relabelling_objects(rng):
    x = rng.normal(size=(40, 5))
    t = _triplets(rng, 40, 500)
    perm = rng.permutation(40)  # new row r holds old object perm[r]
    inv = np.argsort(perm)
    a = odd_one_out_accuracy(x, t)
    b = odd_one_out_accuracy(x[perm], TripletSet(t, 40).remap(inv))
    assert a == b
    # swapping the two members of the pair never changes the answer
    assert a == odd_one_out_accuracy(x, t[:, [1, 0, 2]])


def test_bad_inputs(rng):
    x = rng.normal(size=(10, 3))
    t = _triplets(rng, 10, 5)
    with pytest.raises(UnknownNameError, match=r"Unknown odd-one-out similarity 'cosin'.*Did you mean 'cosine'"):
        odd_one_out_accuracy(x, t, "cosin")
    with pytest.raises(UnknownNameError, match=r"Unknown input kind 'matrix'"):
        odd_one_out_accuracy(x, t, kind="matrix")
    with pytest.raises(ShapeError, match=r"indices must be < n_objects=10, received 10"):
        odd_one_out_accuracy(x, np.vstack([t, [[10, 1, 2]]]))
    with pytest.raises(ShapeError, match=r"repeat an object"):
        odd_one_out_accuracy(x, np.vstack([t, [[1, 1, 2]]]))
    with pytest.raises(ShapeError, match=r"triplets refer to 12 objects but x has 10 rows"):
        odd_one_out_accuracy(x, TripletSet(t, 12))
    with pytest.raises(ShapeError, match=r"NaN or Inf"):
        odd_one_out_accuracy(np.where(np.eye(10, 3) > 0, np.nan, x), t)
    with pytest.raises(ShapeError, match=r"all-zero"):
        odd_one_out_accuracy(np.vstack([x[:9], np.zeros((1, 3))]), t)
    with pytest.raises(ShapeError, match=r"must be symmetric"):
        odd_one_out_accuracy(rng.normal(size=(10, 10)), t, kind="similarity")
    with pytest.raises(ShapeError, match=r"triplets is empty"):
        odd_one_out_accuracy(x, np.zeros((0, 3), dtype=int))
    with pytest.raises(ShapeError, match=r"at least 3 rows"):
        odd_one_out_accuracy(x[:2], t)


def test_human_embedding_on_real_things_trials(shared_data):
    ts = load_triplets(shared_data / "things" / "test_triplets.csv", index_base=1, n_objects=1854)
    emb = np.load(shared_data / "things" / "final_embedding.npy")
    acc = odd_one_out_accuracy(emb, ts, similarity="dot")
    # the VICE human embedding on 20,000 held-out human trials: 0.6357 measured, close to the
    # human noise ceiling (about 0.67) and far above chance (1/3)
    assert 0.60 < acc < 0.70
    assert acc == pytest.approx(0.63565, abs=1e-4)
    shuffled = ts.remap(np.random.default_rng(0).permutation(1854))
    assert abs(odd_one_out_accuracy(emb, shuffled, similarity="dot") - 1 / 3) < 0.02
