"""TripletSet, the trial-layout conversion and the THINGS triplet loaders."""

from __future__ import annotations

import numpy as np
import pytest

from repalign.data.triplets import (
    TripletSet,
    check_triplets,
    load_triplets,
    random_triplets,
    triplets_from_trials,
)
from repalign.errors import DataFormatError, ShapeError


def _random_trials(rng, t=40, n=12):
    items = np.array([rng.choice(n, 3, replace=False) for _ in range(t)])
    pos = rng.integers(1, 4, size=t)
    return items, pos


def test_trials_conversion_matches_loop(rng):
    items, pos = _random_trials(rng)
    out = triplets_from_trials(items, pos)
    for row, p, got in zip(items, pos, out, strict=True):
        odd = row[p - 1]
        pair = [v for k, v in enumerate(row) if k != p - 1]
        assert got.tolist() == [*pair, odd]
    assert np.array_equal(triplets_from_trials(items, pos - 1, choice_base=0), out)


def test_trials_bad_positions_name_the_fix(rng):
    items, pos = _random_trials(rng)
    with pytest.raises(ShapeError, match=r"positions must be in \[1, 2, 3\].*looks 0-based: pass choice_base=0"):
        triplets_from_trials(items, pos - 1)
    with pytest.raises(ShapeError, match=r"positions must be in \[0, 1, 2\].*choice_base=1"):
        triplets_from_trials(items, pos, choice_base=0)
    with pytest.raises(ShapeError, match=r"expected \(T, 3\) items"):
        triplets_from_trials(items[:, :2], pos)


def test_tripletset_validation():
    ts = TripletSet(np.array([[0, 1, 2], [3, 1, 0]]), n_objects=4, participants=[7, 8])
    assert len(ts) == 2 and ts.triplets.dtype == np.int64
    assert ts.objects().tolist() == [0, 1, 2, 3]
    assert ts.subset([1]).triplets.tolist() == [[3, 1, 0]]
    assert ts.subset([1]).participants.tolist() == [8]
    with pytest.raises(ValueError):
        ts.triplets[0, 0] = 3  # read-only
    with pytest.raises(ShapeError, match=r"indices must be < n_objects=4, received 4 \(row 1\).*index_base=1"):
        TripletSet([[0, 1, 2], [4, 1, 0]], n_objects=4)
    with pytest.raises(ShapeError, match=r"indices must be >= 0, received -1"):
        TripletSet([[0, 1, -1]], n_objects=4)
    with pytest.raises(ShapeError, match=r"1 triplet\(s\) repeat an object \(first: row 0, \[0, 1, 0\]\)"):
        TripletSet([[0, 1, 0]], n_objects=4)
    with pytest.raises(ShapeError, match=r"must be a \(T, 3\) array"):
        TripletSet([[0, 1]], n_objects=4)
    with pytest.raises(ShapeError, match=r"whole-number indices"):
        TripletSet([[0, 1, 2.5]], n_objects=4)
    with pytest.raises(ShapeError, match=r"participants must be 1 integer ids"):
        TripletSet([[0, 1, 2]], n_objects=4, participants=[1, 2])
    with pytest.raises(ShapeError, match=r"n_objects must be >= 3"):
        TripletSet([[0, 1, 2]], n_objects=2)
    assert check_triplets(np.zeros((0, 3)), 5).shape == (0, 3)


def test_remap_with_sortind(rng):
    t = np.array([rng.choice(6, 3, replace=False) for _ in range(10)])
    perm = rng.permutation(6)
    ts = TripletSet(t, 6).remap(perm)
    assert np.array_equal(ts.triplets, perm[t])
    with pytest.raises(ShapeError, match=r"sortind must be a permutation of 0..5"):
        TripletSet(t, 6).remap([0, 1, 2, 3, 4, 4])
    with pytest.raises(ShapeError, match=r"sortind must be a permutation"):
        TripletSet(t, 6).remap(np.arange(5))


@pytest.mark.parametrize("suffix,sep,header", [(".npy", None, False), (".txt", " ", False),
                                                (".csv", ",", True), (".tsv", "\t", False)])
@pytest.mark.parametrize("base", [0, 1])
def test_load_pair_pair_odd_files(tmp_path, rng, suffix, sep, header, base):
    t = np.array([rng.choice(10, 3, replace=False) for _ in range(25)])
    path = tmp_path / f"t{suffix}"
    if suffix == ".npy":
        np.save(path, t + base)
    else:
        np.savetxt(path, t + base, fmt="%d", delimiter=sep, header="a,b,odd" if header else "",
                   comments="")
    ts = load_triplets(path, index_base=base, n_objects=10)
    assert np.array_equal(ts.triplets, t) and ts.participants is None
    assert ts.source == str(path)


def test_load_trial_layout_and_sortind(tmp_path, rng):
    items, pos = _random_trials(rng, t=30, n=12)
    pid = rng.integers(0, 5, size=30)
    path = tmp_path / "trials.txt"
    np.savetxt(path, np.column_stack([items + 1, pos, pid]), fmt="%d")
    ts = load_triplets(path, index_base=1, n_objects=12)
    assert np.array_equal(ts.triplets, triplets_from_trials(items, pos))
    assert np.array_equal(ts.participants, pid)
    perm = rng.permutation(12)
    remapped = load_triplets(path, index_base=1, sortind=perm)
    assert np.array_equal(remapped.triplets, perm[ts.triplets]) and remapped.n_objects == 12
    # four columns: no participant ids
    np.savetxt(path, np.column_stack([items, pos]), fmt="%d")
    assert load_triplets(path, index_base=0, n_objects=12).participants is None


_rng = np.random.default_rng(0)
_T = np.array([_rng.choice(10, 3, replace=False) for _ in range(5)])  # 0-based, 10 objects


def _array(arr: np.ndarray):
    return lambda path: np.save(path, arr)


def _table(arr: np.ndarray | list[list[int]]):
    return lambda path: np.savetxt(path, arr, fmt="%d")


def _text(text: str):
    return lambda path: path.write_text(text)


@pytest.mark.parametrize(
    ("name", "write", "kwargs", "pattern"),
    [
        ("zero_based.npy", _array(np.vstack([_T, [[0, 1, 2]]])), {"index_base": 1, "n_objects": 10},
         r"zero_based.npy: found object index 0 but index_base=1.*index_base=0"),
        ("one_based.npy", _array(np.vstack([_T + 1, [[10, 1, 2]]])), {"index_base": 0, "n_objects": 10},
         r"one_based.npy: indices must be < n_objects=10.*index_base=1"),
        ("one_based.npy", _array(_T + 1), {"index_base": 2}, r"index_base must be 0 or 1"),
        ("missing.npy", None, {"index_base": 0}, r"no such file"),
        ("t.json", _text("[]"), {"index_base": 0}, r"unsupported triplet file type '.json'"),
        ("empty.txt", _text(""), {"index_base": 0}, r"empty.txt: the file is empty"),
        ("two.txt", _table(_T[:, :2]), {"index_base": 0}, r"two.txt: 2 column\(s\) do not fit layout 'auto'"),
        ("three.txt", _table(_T), {"index_base": 0, "layout": "trials"},
         r"3 column\(s\) do not fit layout 'trials'"),
        ("three.txt", _table(_T), {"index_base": 0, "n_objects": 11, "sortind": np.arange(10)},
         r"n_objects=11 but sortind has 10 entries"),
        ("words.csv", _text("a,b,c\n1,2,x\n"), {"index_base": 0},
         r"words.csv: line \d+, column 3: .x. is not a number"),
        ("rep.txt", _table([[1, 1, 2]]), {"index_base": 0, "n_objects": 3}, r"rep.txt: 1 triplet\(s\) repeat an object"),
        ("frac.txt", _text("0 1 2.5\n"), {"index_base": 0}, r"whole numbers"),
        ("words.npy", _array(np.array([["a", "b", "c"]])), {"index_base": 0},
         r"words.npy: expected a numeric array.*<U1"),
        ("pid.txt", _text("1 2 3 1 7\n2 3 4 2 7.5\n"), {"index_base": 1},
         r"pid.txt: participant ids \(column 5\) must be whole numbers, received 7.5 \(row 1\)"),
        ("corrupt.npy", lambda path: path.write_bytes(b"not numpy"), {"index_base": 0},
         r"corrupt.npy: not a readable .npy array"),
    ],
)
def test_loader_errors_name_file_and_problem(tmp_path, name, write, kwargs, pattern):
    path = tmp_path / name
    if write is not None:
        write(path)
    with pytest.raises(DataFormatError, match=pattern):
        load_triplets(path, **kwargs)


def test_real_things_trials_load(shared_data):
    ts = load_triplets(shared_data / "things" / "test_triplets.csv", index_base=1, n_objects=1854)
    assert len(ts) == 20_000 and ts.n_objects == 1854
    assert ts.participants is not None and len(np.unique(ts.participants)) == 325
    raw = np.loadtxt(shared_data / "things" / "test_triplets.csv", dtype=np.int64)
    # first trial: items 128, 1107, 734 (1-based), odd one out at position 1 -> (1106, 733, 127)
    assert ts.triplets[0].tolist() == [raw[0, 1] - 1, raw[0, 2] - 1, raw[0, 0] - 1]
    odd = raw[np.arange(len(raw)), raw[:, 3] - 1] - 1
    assert np.array_equal(ts.triplets[:, 2], odd)


def test_random_triplets_are_uniform_over_ordered_distinct_triples():
    from itertools import permutations

    from scipy.stats import chisquare

    t = random_triplets(4, 24_000, np.random.default_rng(0))
    assert t.shape == (24_000, 3) and t.dtype == np.int64 and t.min() >= 0 and t.max() <= 3
    assert (t[:, 0] != t[:, 1]).all() and (t[:, 0] != t[:, 2]).all() and (t[:, 1] != t[:, 2]).all()
    triples = list(permutations(range(4), 3))  # the 24 ordered triples of distinct objects
    counts = [int((t == np.array(p)).all(1).sum()) for p in triples]
    assert sum(counts) == len(t)
    assert chisquare(counts).pvalue > 0.001
