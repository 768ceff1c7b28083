"""``repalign embed`` end to end on the real THINGS trials (a slice) and on bad input."""

from __future__ import annotations

import json

import numpy as np

from repalign.cli import main


def test_embed_real_things_trials_writes_embedding_summary_and_figure(shared_data, tmp_path, capsys):
    src = shared_data / "things" / "test_triplets.csv"
    small = tmp_path / "trials.csv"
    small.write_text("".join(src.read_text().splitlines(keepends=True)[:3000]))
    out = tmp_path / "fit"
    rc = main(["embed", str(small), "--n-objects", "1854", "--index-base", "1", "--method", "spose",
               "--dims", "20", "--epochs", "2", "--batch-size", "256", "--lr", "0.01",
               "--out", str(out), "-q"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "held-out accuracy" in text and "2700 training / 300 held-out" in text
    emb = np.load(out / "embedding.npy")
    summary = json.loads((out / "summary.json").read_text())
    assert emb.shape[0] == 1854 and emb.shape[1] == summary["n_dims"]
    assert summary["method"] == "spose" and len(summary["history"]) == 2
    assert (out / "training_curve.png").stat().st_size > 1000
    assert (out / "checkpoint.pt").is_file()
    # the same command again resumes from the finished checkpoint: same embedding, no new epochs
    assert main(["embed", str(small), "--n-objects", "1854", "--index-base", "1", "--method",
                 "spose", "--dims", "20", "--epochs", "2", "--batch-size", "256", "--lr", "0.01",
                 "--out", str(out), "-q"]) == 0
    np.testing.assert_array_equal(np.load(out / "embedding.npy"), emb)


def test_embed_rejects_bad_input(shared_data, tmp_path, capsys):
    src = shared_data / "things" / "test_triplets.csv"
    rc = main(["embed", str(src), "--n-objects", "1854", "--index-base", "0", "--out",
               str(tmp_path / "x"), "-q"])
    assert rc == 2 and "index_base=1" in capsys.readouterr().err
    rc = main(["embed", str(src), "--n-objects", "1854", "--index-base", "1", "--options", "[1]",
               "--out", str(tmp_path / "x"), "-q"])
    assert rc == 2 and "--options must be a JSON object" in capsys.readouterr().err
