"""SimilarityMatrix and its loaders (.npy, .csv/.tsv/.txt, .mat including v7.3)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy.io import savemat

from repalign.data import SimilarityMatrix, load_similarity_matrix
from repalign.errors import DataFormatError
from repalign.similarity import compare


@pytest.fixture
def sim(rng):
    x = rng.normal(size=(6, 3))
    s = np.corrcoef(x)
    return s


def test_container(sim):
    sm = SimilarityMatrix(sim, names=list("abcdef"))
    assert len(sm) == 6 and sm.names == tuple("abcdef")
    np.testing.assert_allclose(sm.dissimilarity(), 1 - sim)
    np.testing.assert_allclose(SimilarityMatrix(1 - sim, "dissimilarity").similarity(), sim)
    sub = sm.subset([4, 1])
    assert sub.names == ("e", "b") and sub.matrix[0, 1] == sim[4, 1]
    with pytest.raises(ValueError):
        sm.matrix[0, 0] = 2.0
    sm.check_size(6)
    with pytest.raises(DataFormatError, match=r"describes 6 stimuli but 5 were given"):
        sm.check_size(range(5))


def test_npy_and_mat(tmp_path, sim):
    np.save(tmp_path / "s.npy", sim)
    sm = load_similarity_matrix(tmp_path / "s.npy", stimuli=6)
    np.testing.assert_array_equal(sm.matrix, sim)
    savemat(tmp_path / "peterson.mat", {"sim_judgements": sim, "labels": np.arange(6)})
    sm = load_similarity_matrix(tmp_path / "peterson.mat", key="sim_judgements")
    np.testing.assert_allclose(sm.matrix, sim)
    assert sm.source.endswith("peterson.mat")
    # a single square variable needs no key
    np.testing.assert_allclose(load_similarity_matrix(tmp_path / "peterson.mat").matrix, sim)
    savemat(tmp_path / "two.mat", {"a": sim, "b": sim})
    with pytest.raises(DataFormatError, match=r"two.mat: cannot tell which variable.*key="):
        load_similarity_matrix(tmp_path / "two.mat")
    with pytest.raises(DataFormatError, match=r"no variable 'sim'"):
        load_similarity_matrix(tmp_path / "two.mat", key="sim")


def test_mat_v73_hdf5(tmp_path, sim, rng):
    asym = sim + np.triu(rng.random((6, 6)) * 0.01, 1)  # stored column-major: check the transpose
    with h5py.File(tmp_path / "v73.mat", "w") as h5:
        h5["sim_judgements"] = asym.T
    sm = load_similarity_matrix(tmp_path / "v73.mat", key="sim_judgements", symmetrize=True)
    np.testing.assert_allclose(sm.matrix, (asym + asym.T) / 2)


@pytest.mark.parametrize("sep", [",", "\t", " "])
def test_text_files_with_and_without_names(tmp_path, sim, sep):
    names = list("abcdef")
    plain = tmp_path / "plain.csv"
    np.savetxt(plain, sim, delimiter=sep, fmt="%.17g")
    np.testing.assert_allclose(load_similarity_matrix(plain).matrix, sim)
    labelled = tmp_path / "labelled.txt"
    rows = [sep.join(["item", *names])] + [
        sep.join([n, *(f"{v:.17g}" for v in row)]) for n, row in zip(names, sim, strict=True)]
    labelled.write_text("\n".join(rows) + "\n")
    sm = load_similarity_matrix(labelled)
    assert sm.names == tuple(names)
    np.testing.assert_allclose(sm.matrix, sim)


def test_human_matrix_against_model_features(rng, sim):
    x = rng.normal(size=(6, 4))
    sm = SimilarityMatrix(sim)
    v = compare(x, sm.matrix, "rsa_spearman", kind=("features", "similarity"))
    assert v == compare(x, sm.dissimilarity(), "rsa_spearman", kind=("features", "dissimilarity"))


def test_bad_files(tmp_path, sim):
    bad = sim.copy()
    bad[1, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(DataFormatError, match=r"nan.npy: 1 NaN/Inf value\(s\) \(first at row 1, column 2\)"):
        load_similarity_matrix(tmp_path / "nan.npy")
    diag = sim.copy()
    np.fill_diagonal(diag, np.nan)
    np.save(tmp_path / "diag.npy", diag)
    with pytest.raises(DataFormatError, match=r"all on the diagonal: pass diagonal=1.0"):
        load_similarity_matrix(tmp_path / "diag.npy")
    assert load_similarity_matrix(tmp_path / "diag.npy", diagonal=1.0).matrix[2, 2] == 1.0
    asym = sim.copy()
    asym[0, 3] += 0.5
    np.save(tmp_path / "asym.npy", asym)
    with pytest.raises(DataFormatError, match=r"asym.npy: the matrix is not symmetric \(\|M - M.T\| up to 0.5, at row 0, column 3\); pass symmetrize=True"):
        load_similarity_matrix(tmp_path / "asym.npy")
    np.save(tmp_path / "rect.npy", sim[:, :4])
    with pytest.raises(DataFormatError, match=r"rect.npy: a similarity matrix must be square"):
        load_similarity_matrix(tmp_path / "rect.npy")
    np.save(tmp_path / "ok.npy", sim)
    with pytest.raises(DataFormatError, match=r"ok.npy: the matrix describes 6 stimuli but 7"):
        load_similarity_matrix(tmp_path / "ok.npy", stimuli=7)
    with pytest.raises(DataFormatError, match=r"kind must be one of"):
        load_similarity_matrix(tmp_path / "ok.npy", kind="distance")
    (tmp_path / "s.json").write_text("{}")
    with pytest.raises(DataFormatError, match=r"unsupported file type '.json'"):
        load_similarity_matrix(tmp_path / "s.json")
    with pytest.raises(DataFormatError, match=r"no such file"):
        load_similarity_matrix(tmp_path / "missing.npy")
    (tmp_path / "words.csv").write_text("1,2\nx,1\n")
    with pytest.raises(DataFormatError, match=r"words.csv: non-numeric value 'x' at data row 1, column 0"):
        load_similarity_matrix(tmp_path / "words.csv")
    # an unrated diagonal in a text file (NaN or empty cells) is reported, then filled
    for name, cell in (("nan_diag.csv", "nan"), ("empty_diag.csv", "")):
        rows = [",".join(cell if i == j else f"{v:.17g}" for j, v in enumerate(row))
                for i, row in enumerate(sim)]
        (tmp_path / name).write_text("\n".join(rows) + "\n")
        with pytest.raises(DataFormatError, match=rf"{name}: 6 NaN/Inf value\(s\).*all on the diagonal"):
            load_similarity_matrix(tmp_path / name)
        filled = load_similarity_matrix(tmp_path / name, diagonal=1.0).matrix
        np.testing.assert_allclose(filled, sim)
    (tmp_path / "gap.csv").write_text("1,,0.2\n0.5,1,0.1\n0.2,0.1,1\n")
    with pytest.raises(DataFormatError, match=r"gap.csv: 1 NaN/Inf value\(s\) \(first at row 0, column 1\).*Impute"):
        load_similarity_matrix(tmp_path / "gap.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataFormatError, match=r"empty.csv: the file is empty"):
        load_similarity_matrix(tmp_path / "empty.csv")
    (tmp_path / "broken.mat").write_bytes(b"MATLAB garbage")
    with pytest.raises(DataFormatError, match=r"broken.mat: not a readable MATLAB file"):
        load_similarity_matrix(tmp_path / "broken.mat")
    with pytest.raises(DataFormatError, match=r"2 names for a 6 x 6 matrix"):
        SimilarityMatrix(sim, names=["a", "b"])
