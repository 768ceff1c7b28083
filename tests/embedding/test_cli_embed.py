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


def test_embed_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import torch

    from repalign.alignment.simulate import simulate_observer

    truth = np.random.default_rng(0).gamma(0.6, size=(100, 4))
    path = tmp_path / "t.npy"
    np.save(path, simulate_observer(truth, 10_000, seed=0).triplets)
    args = ["embed", str(path), "--n-objects", "100", "--index-base", "0", "--method", "vice",
            "--dims", "10", "--epochs", "12", "--batch-size", "64", "--lr", "0.01",
            "--checkpoint-seconds", "0", "-q"]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "repalign", *args, "--out", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt, deadline = killed / "checkpoint.pt", time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if ckpt.is_file() and torch.load(ckpt, weights_only=True)["epoch"] >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert proc.wait(30) == -signal.SIGKILL  # killed mid-fit, not finished
    assert not (killed / "embedding.npy").exists()
    assert main([*args, "--out", str(killed)]) == 0  # the same command resumes
    np.testing.assert_array_equal(np.load(killed / "embedding.npy"), np.load(tmp_path / "whole" / "embedding.npy"))
