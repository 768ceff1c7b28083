"""A metamer run and a study killed with SIGKILL mid-optimisation resume from the last checkpoint
and end bit-identical to an uninterrupted run with the same seed (CPU, one torch thread)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import repalign as ra
from repalign.errors import ConfigError
from repalign.metamers.checkpoint import RunCheckpoint

_RUN = dict(recipe="fast", steps=200, stop="fixed", keep="best", batch_size=3,
            checkpoint_every=20)

_BARE = (
    "import json, sys, torch\n"
    "torch.set_num_threads(1)\n"
    "import repalign as ra\n"
    "kw = json.loads(sys.argv[1])\n"
    "stim = ra.load_stimuli('bundled:digits')\n"
    "ra.generate_metamers(ra.create_model('zoo:cnn_standard_s0'), stim.subset(range(5)), 'block2',\n"
    "                     null_stimuli=stim, quiet=True, checkpoint=sys.argv[2], **kw)\n"
)
_STUDY = (
    "import json, sys, torch\n"
    "torch.set_num_threads(1)\n"
    "from repalign.study.runner import run_study\n"
    "run_study(json.loads(sys.argv[1]), out=sys.argv[2], report=False, quiet=True)\n"
)


def _kill_mid_batch(kill_when, script: str, arg: dict, out: Path, pattern: str) -> int:
    """Run ``script`` in a subprocess; SIGKILL it as soon as a snapshot matching ``pattern``
    (under ``out``) exists; return the step of the snapshot it left."""
    kill_when(script, [json.dumps(arg), str(out)], lambda: bool(list(out.glob(pattern))),
              "a checkpoint")
    (snap,) = out.glob(pattern)
    assert not list(out.glob(pattern.replace("state", "done")))  # killed inside the batch
    state = torch.load(snap, weights_only=True)["state"]
    return int(state["step"])


def test_bare_run_killed_mid_optimisation_resumes_from_its_checkpoint(kill_when, tmp_path):
    stim = ra.load_stimuli("bundled:digits")
    model = ra.create_model("zoo:cnn_standard_s0")
    ck = tmp_path / "ck"
    step = _kill_mid_batch(kill_when, _BARE, _RUN, ck, "batch-00000.state.pt")
    assert step > 0 and step % _RUN["checkpoint_every"] == 0
    resumed = ra.generate_metamers(model, stim.subset(range(5)), "block2", null_stimuli=stim,
                                   quiet=True, checkpoint=ck, **_RUN)
    whole = ra.generate_metamers(model, stim.subset(range(5)), "block2", null_stimuli=stim,
                                 quiet=True, **_RUN)
    # batch 0 continued at the snapshot's step, batch 1 had not started
    assert resumed.config["resumed_from"] == [step, 0]
    assert whole.config["resumed_from"] == [0, 0]
    assert resumed.config["steps_run"] == whole.config["steps_run"] == [200, 200]
    torch.testing.assert_close(resumed.images, whole.images, rtol=0, atol=0)
    np.testing.assert_array_equal(resumed.final_distance, whole.final_distance)
    np.testing.assert_array_equal(resumed.history["loss"], whole.history["loss"])
    np.testing.assert_array_equal(resumed.success, whole.success)
    # a finished run leaves only finished batches; a third call only reads them
    assert sorted(p.name for p in ck.glob("batch-*")) == ["batch-00000.done.pt", "batch-00001.done.pt"]
    again = ra.generate_metamers(model, stim.subset(range(5)), "block2", null_stimuli=stim,
                                 quiet=True, checkpoint=ck, **_RUN)
    torch.testing.assert_close(again.images, whole.images, rtol=0, atol=0)
    with pytest.raises(ConfigError, match="holds another metamer run"):
        ra.generate_metamers(model, stim.subset(range(5)), "block2", null_stimuli=stim,
                             quiet=True, checkpoint=ck, **{**_RUN, "seed": 1})


_CONFIG = {
    "name": "resume", "seed": 3, "device": "cpu",
    "stimuli": {"source": "bundled:digits", "per_class": 3},
    "models": {"specs": ["zoo:cnn_standard_s0"]},
    "metamers": {"generators": ["zoo:cnn_standard_s0"], "targets": 4, "layers": ["middle"],
                 "regularizers": ["none"], "inits": ["noise"], "optimizers": ["adam"],
                 "steps": 200, "repeats": 1,
                 "options": {"stop": "fixed", "checkpoint_every": 20, "batch_size": 2}},
    "executor": {"threads": 1},
}


def test_killed_study_resumes_its_metamer_unit_mid_batch(kill_when, tmp_path):
    from repalign.study.runner import run_study
    from repalign.study.stages.metamers import load_result
    from repalign.study.store import load_results, load_units

    out = tmp_path / "killed"
    step = _kill_mid_batch(kill_when, _STUDY, _CONFIG, out, "work/metamers/*/batch-00000.state.pt")
    assert step > 0
    run_study(_CONFIG, out=out, report=False, quiet=True)
    whole_dir = tmp_path / "whole"
    run_study(_CONFIG, out=whole_dir, report=False, quiet=True)

    def table(path: Path) -> pd.DataFrame:
        df = load_results(path)
        return df.sort_values([c for c in df.columns if c != "value"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(table(out), table(whole_dir), check_exact=True)
    units = load_units(out)
    key = units[units["stage"] == "metamers"]["key"].iloc[0]
    files = {n: (out / "artifacts" / key / n).read_bytes() for n in ("result.npz", "result.json")}
    resumed = load_result(files)
    whole = load_result({n: (whole_dir / "artifacts" / key / n).read_bytes() for n in files})
    assert resumed.config["resumed_from"] == [step, 0]
    torch.testing.assert_close(resumed.images, whole.images, rtol=0, atol=0)
    assert not (out / "work" / "metamers" / key).exists()  # removed once the unit finished


def test_snapshots_are_replaced_atomically(tmp_path):
    """A checkpoint file is complete or absent: writes go to a temporary file, then os.replace."""
    ck = RunCheckpoint(tmp_path, {"a": 1})
    calls = []
    real = os.replace

    def spy(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        return real(src, dst)

    os.replace = spy
    try:
        ck.save_state(3, {"state": {"step": 7}, "x": torch.ones(2)})
    finally:
        os.replace = real
    assert len(calls) == 1 and calls[0][1] == "batch-00003.state.pt"
    assert calls[0][0].startswith(".batch-00003.state.pt.")
    assert ck.state(3)["state"]["step"] == 7 and ck.state(4) is None
    (tmp_path / "batch-00005.state.pt").write_bytes(b"half")
    with pytest.raises(ra.errors.DataFormatError, match="Delete it"):
        ck.state(5)
    torch.save([torch.ones(2)], tmp_path / "batch-00006.done.pt")  # readable, but not a record
    with pytest.raises(ra.errors.DataFormatError, match="holds a list, not a batch's record"):
        ck.finished(6)


class _Killed(Exception):
    pass


@pytest.mark.parametrize(
    "recipe",
    [
        # every piece with state of its own: Adam's moments, plateau schedule and stop rule,
        # the transforms' random generator, the adversarial scale, the best iterate, fourier
        {"recipe": "fast", "stop": "fixed"},
        {"recipe": "nanda", "schedule": "plateau:patience=1,threshold=0.5",
         "stop": "plateau:window=10,tol=0.01",
         "check_every": 5},
        {"recipe": "fast", "transforms": "robust_small", "stop": "fixed", "keep": "best"},
        {"recipe": "fast", "regularizer": "adversarial:distance=ssim", "parametrization": "fourier",
         "stop": "fixed", "optimizer": "sgd_momentum", "lr": 0.05},
    ],
    ids=["adam", "plateau", "transforms", "adversarial_fourier"],
)
def test_every_stateful_piece_resumes_exactly(tiny_cnn, images, rng, tmp_path, monkeypatch, recipe):
    null = torch.from_numpy(rng.random((30, 3, 16, 16))).float()
    kw = {"layers": "3", "null_stimuli": null, "quiet": True, "steps": 60, "batch_size": 4,
          **recipe}
    whole = ra.generate_metamers(tiny_cnn, images, **kw)
    real = RunCheckpoint.save_state
    saved = []

    def dies_after_two(self, batch, snap):
        real(self, batch, snap)
        saved.append(snap["state"]["step"])
        if len(saved) == 2:
            raise _Killed

    monkeypatch.setattr(RunCheckpoint, "save_state", dies_after_two)
    with pytest.raises(_Killed):
        ra.generate_metamers(tiny_cnn, images, checkpoint=tmp_path, checkpoint_every=15, **kw)
    monkeypatch.setattr(RunCheckpoint, "save_state", real)
    resumed = ra.generate_metamers(tiny_cnn, images, checkpoint=tmp_path, checkpoint_every=15, **kw)
    assert saved == [15, 30] and resumed.config["resumed_from"] == [30, 0]
    assert resumed.config["steps_run"] == whole.config["steps_run"]
    torch.testing.assert_close(resumed.images, whole.images, rtol=0, atol=0)
    np.testing.assert_array_equal(resumed.history["loss"], whole.history["loss"])
    np.testing.assert_array_equal(resumed.steps_to_success, whole.steps_to_success)


def test_plateau_stop_rule_state_round_trips():
    """The plateau stop's window of losses is its state: a rule loaded from a mid-run state
    decides as the original does; a fresh rule (state lost) decides differently."""
    from repalign.metamers.stopping import get_stop

    g = torch.Generator().manual_seed(0)
    losses = [1.0 / (1 + k) + 0.001 * torch.rand(4, generator=g) for k in range(12)]
    rule = get_stop("plateau")(4, tol=0.1, window=10)
    for k in range(6):
        rule(k * 5, dist=losses[k], loss=losses[k], rows=None)
    state = rule.state_dict()
    loaded, fresh = get_stop("plateau")(4, tol=0.1, window=10), get_stop("plateau")(4, tol=0.1, window=10)
    loaded.load_state_dict(state)
    k = 6
    want = rule(k * 5, dist=losses[k], loss=losses[k], rows=None)
    assert want.any()
    assert torch.equal(loaded(k * 5, dist=losses[k], loss=losses[k], rows=None), want)
    assert not fresh(k * 5, dist=losses[k], loss=losses[k], rows=None).any()
