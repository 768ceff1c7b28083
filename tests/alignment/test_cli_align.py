"""``repalign align fit`` / ``apply`` end to end on files."""

from __future__ import annotations

import numpy as np
import pytest

from repalign.alignment import load_transform, simulate_observer
from repalign.cli import main


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    hidden = rng.gamma(0.6, size=(50, 4))
    x = np.concatenate([hidden, rng.normal(size=(50, 4))], 1)
    sim = simulate_observer(hidden, 1500, temperature=0.3, seed=0)
    np.save(tmp_path / "penult.npy", x)
    np.savetxt(tmp_path / "triplets.txt", sim.triplets + 1, fmt="%d")  # a 1-based file
    return tmp_path, x


def test_fit_then_apply(files, capsys):
    d, x = files
    rc = main(["align", "fit", str(d / "penult.npy"), str(d / "triplets.txt"), "--index-base", "1",
               "--out", str(d / "transform.npz"), "--epochs", "3", "--lr", "1e-2", "--device", "cpu",
               "--history", str(d / "history.csv"), "-q"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "50 objects x 8 features, 1500 triplets" in out and "transform written" in out
    assert (d / "history.csv").read_text().startswith("epoch,")
    rc = main(["align", "apply", str(d / "transform.npz"), str(d / "penult.npy"),
               "--out", str(d / "aligned.npz")])
    assert rc == 0
    with np.load(d / "aligned.npz") as z:
        aligned = z["penult"]
    np.testing.assert_allclose(aligned, load_transform(d / "transform.npz").transform(x))


def test_fit_reports_bad_index_base(files, capsys):
    d, _ = files
    rc = main(["align", "fit", str(d / "penult.npy"), str(d / "triplets.txt"), "--index-base", "0",
               "--out", str(d / "t.npz"), "--device", "cpu"])
    assert rc == 2
    assert "index" in capsys.readouterr().err
