"""The Ray executor on a local Ray instance gives the same results as the local executor."""

from __future__ import annotations

import pandas as pd
import pytest

from repalign.study.runner import run_study
from repalign.study.store import load_results, load_units

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

pytestmark = pytest.mark.ray


SMALL = {
    "name": "ray-small",
    "device": "cpu",
    "stimuli": {"source": "bundled:digits", "per_class": 2},
    "models": {"specs": ["zoo:mlp_standard_s0", "zoo:cnn_standard_s0"]},
    "similarity": {"reference": "zoo:cnn_l2_s0", "metrics": ["cka_linear"], "pairwise": []},
    "executor": {"kind": "ray", "threads": 1},
}


def test_without_address_a_local_instance_is_started_and_stopped(tmp_path, comparable, monkeypatch):
    """No ``address``: the executor starts its own local Ray instance (not one that RAY_ADDRESS
    points to), runs the units there and shuts it down; the results equal a local run's."""
    if ray.is_initialized():
        pytest.skip("a Ray instance is already initialised in this process")
    monkeypatch.setenv("RAY_ADDRESS", "auto")  # ignored: no address means a new local instance
    run = run_study(SMALL, out=tmp_path / "ray", report=False, quiet=True)
    assert run.ran == run.units == 5  # features of 3 models (reference included), 2 similarities
    assert not ray.is_initialized()  # the instance the run started is stopped
    local = dict(SMALL, executor={"kind": "local", "threads": 1})
    run_study(local, out=tmp_path / "local", report=False, quiet=True)
    pd.testing.assert_frame_equal(
        comparable(load_results(tmp_path / "ray")), comparable(load_results(tmp_path / "local")),
        check_exact=True,
    )


def test_an_address_without_a_cluster_is_a_config_error(tmp_path, monkeypatch):
    if ray.is_initialized():
        pytest.skip("a Ray instance is already initialised in this process")
    from repalign.errors import ConfigError

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "no_cluster"))  # no `ray start` recorded here
    cfg = dict(SMALL, executor={"kind": "ray", "address": "auto"})
    with pytest.raises(ConfigError, match=r"executor\.address='auto': could not connect to a Ray cluster"):
        run_study(cfg, out=tmp_path / "x", report=False, quiet=True)
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance for the module (starting Ray is slow)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_executor_matches_local(ray_session, tiny_run, tiny_config, comparable, tmp_path):
    cfg = tiny_config()
    cfg["executor"] = {"kind": "ray", "threads": 1}
    out = tmp_path / "ray"
    run = run_study(cfg, out=out, report=False, quiet=True)
    assert run.ran == run.units == len(load_units(tiny_run))
    pd.testing.assert_frame_equal(
        comparable(load_results(out)), comparable(load_results(tiny_run)), check_exact=True
    )
    assert ray_session.is_initialized()  # an instance the run did not start is left running


def test_ray_failure_is_reported_and_finished_units_kept(ray_session, tiny_config, tmp_path):
    from repalign.study.runner import StudyError

    cfg = tiny_config()
    cfg["executor"] = {"kind": "ray", "threads": 1}
    cfg["glocal"]["options"] = {"max_epochs": 2, "lr": -1.0}  # GLocal refuses a negative lr
    out = tmp_path / "fail"
    with pytest.raises(StudyError, match=r"unit\(s\) failed; the first, 'gLocal .*lr must be > 0"):
        run_study(cfg, out=out, report=False, quiet=True)
    units = load_units(out)
    assert units[units["stage"] == "features"]["done"].all()
    assert not units[units["stage"] == "glocal"]["done"].any()
