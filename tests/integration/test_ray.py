"""The Ray executor on a local Ray instance gives the same results as the local executor."""

from __future__ import annotations

import pandas as pd
import pytest

from repalign.study.runner import run_study
from repalign.study.store import load_results, load_units

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

pytestmark = pytest.mark.ray


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
