"""The ``repalign compare`` and ``repalign triplets`` commands."""

from __future__ import annotations

import numpy as np
import pytest

from repalign.cli import main
from repalign.similarity import bootstrap, compare, odd_one_out_accuracy


@pytest.fixture
def files(tmp_path, rng):
    x = rng.normal(size=(30, 5))
    y = x + rng.normal(size=(30, 5))
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "b.npz", fc=y, conv=y[:, :2])
    np.savetxt(tmp_path / "human.csv", np.corrcoef(y), delimiter=",")
    return tmp_path, x, y


def _lines(capsys):
    return [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]


def test_compare_prints_value_and_interval(files, capsys):
    d, x, y = files
    assert main(["compare", str(d / "a.npy"), str(d / "b.npz"), "--layer-b", "fc",
                 "--metric", "rsa_spearman", "cka_linear", "--bootstrap", "50", "-q"]) == 0
    lines = _lines(capsys)
    assert [row[0] for row in lines] == ["rsa_spearman", "cka_linear"]
    res = bootstrap(x, y, "cka_linear", 50, quiet=True)
    assert float(lines[1][1]) == pytest.approx(res.value, rel=1e-5)
    assert lines[1][2].startswith(f"95% CI [{res.low:.6g}, {res.high:.6g}]")


def test_compare_matrix_and_options(files, capsys):
    d, x, y = files
    assert main(["compare", str(d / "a.npy"), str(d / "human.csv"), "--kind-b", "similarity",
                 "--metric", "rsa_pearson", "--rdm-metric", "correlation"]) == 0
    value = float(_lines(capsys)[0][1])
    expected = compare(x, np.corrcoef(y), "rsa_pearson", kind=("features", "similarity"),
                       rdm_metric="correlation")
    assert value == pytest.approx(expected, rel=1e-5)
    assert main(["compare", str(d / "a.npy"), str(d / "b.npz"), "--layer-b", "fc", "--metric",
                 "triplet_agreement", "--option", "ties=strict"]) == 0
    assert float(_lines(capsys)[0][1]) == pytest.approx(
        compare(x, y, "triplet_agreement", ties="strict"), rel=1e-5)


def test_compare_errors_exit_2(files, capsys):
    d, _, _ = files
    assert main(["compare", str(d / "a.npy"), str(d / "b.npz")]) == 2
    assert "holds several arrays ['fc', 'conv']" in capsys.readouterr().err
    assert main(["compare", str(d / "a.npy"), str(d / "b.npz"), "--layer", "fc",
                 "--metric", "rsa_spearmen"]) == 2
    err = capsys.readouterr().err
    assert "no layer(s) ['fc']" in err  # a.npy has no layer 'fc'
    assert main(["compare", str(d / "a.npy"), str(d / "a.npy"), "--metric", "rsa_spearmen"]) == 2
    assert "Did you mean 'rsa_spearman'" in capsys.readouterr().err
    assert main(["compare", str(d / "a.npy"), str(d / "human.csv")]) == 2
    assert "pass kind='similarity'" in capsys.readouterr().err


def test_triplets_command(tmp_path, rng, capsys):
    x = rng.normal(size=(20, 4))
    t = np.array([rng.choice(20, 3, replace=False) for _ in range(300)])
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "t.txt", t + 1, fmt="%d")
    assert main(["triplets", str(tmp_path / "x.npy"), str(tmp_path / "t.txt"),
                 "--index-base", "1", "--similarity", "euclidean"]) == 0
    row = _lines(capsys)[0]
    assert float(row[1]) == pytest.approx(odd_one_out_accuracy(x, t, "euclidean"))
    assert "300 triplets over 20 objects" in row[3]
    assert main(["triplets", str(tmp_path / "x.npy"), str(tmp_path / "t.txt"),
                 "--index-base", "0"]) == 2
    assert "if the file is 1-based, load it with index_base=1" in capsys.readouterr().err
    # --sortind: file index k is feature row sortind[k]
    perm = rng.permutation(20)
    np.save(tmp_path / "sortind.npy", perm)
    assert main(["triplets", str(tmp_path / "x.npy"), str(tmp_path / "t.txt"),
                 "--index-base", "1", "--sortind", str(tmp_path / "sortind.npy")]) == 0
    assert float(_lines(capsys)[0][1]) == pytest.approx(odd_one_out_accuracy(x, perm[t]))
    assert main(["triplets", str(tmp_path / "x.npy"), str(tmp_path / "t.txt"),
                 "--index-base", "1", "--sortind", str(tmp_path / "missing.npy")]) == 2
    assert "missing.npy: not a readable .npy permutation for --sortind" in capsys.readouterr().err
    np.save(tmp_path / "short.npy", perm[:5])
    assert main(["triplets", str(tmp_path / "x.npy"), str(tmp_path / "t.txt"),
                 "--index-base", "1", "--sortind", str(tmp_path / "short.npy")]) == 2
    assert "n_objects=20 but sortind has 5 entries" in capsys.readouterr().err


def test_triplets_command_on_real_things_data(shared_data, capsys):
    things = shared_data / "things"
    assert main(["triplets", str(things / "final_embedding.npy"), str(things / "test_triplets.csv"),
                 "--index-base", "1", "--similarity", "dot"]) == 0
    row = _lines(capsys)[0]
    assert row[1] == "0.63565" and "20000 triplets over 1854 objects" in row[3]


def test_compare_gives_each_metric_the_options_it_takes(files, capsys):
    # --option ties=strict with a metric that has no ties option (the docs' example)
    d, x, y = files
    assert main(["compare", str(d / "a.npy"), str(d / "b.npz"), "--layer-b", "fc", "--metric",
                 "rsa_pearson", "triplet_agreement", "--option", "ties=strict"]) == 0
    lines = _lines(capsys)
    assert [row[0] for row in lines] == ["rsa_pearson", "triplet_agreement"]
    assert float(lines[0][1]) == pytest.approx(compare(x, y, "rsa_pearson"), rel=1e-5)
    assert float(lines[1][1]) == pytest.approx(
        compare(x, y, "triplet_agreement", ties="strict"), rel=1e-5)
    # a key that no requested metric takes is still an error, not dropped
    assert main(["compare", str(d / "a.npy"), str(d / "b.npz"), "--layer-b", "fc", "--metric",
                 "rsa_pearson", "--option", "ties=strict"]) == 2
    assert "--option ['ties']: no requested metric takes it" in capsys.readouterr().err
