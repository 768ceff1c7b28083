"""``repalign analyze MODEL_TABLE ALIGNMENT``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repalign.cli import main


def test_analyze_prints_tables_and_writes_files(tmp_path, capsys, rng):
    n = 30
    a = rng.uniform(size=n)
    pd.DataFrame({"model": [f"m{i}" for i in range(n)], "top1": rng.uniform(size=n),
                  "fewshot_1": (a - 0.5) ** 2 + 0.01 * rng.normal(size=n)}).to_csv(
        tmp_path / "models.csv", index=False)
    pd.DataFrame({"model": [f"m{i}" for i in range(n)], "triplet": a}).to_csv(
        tmp_path / "align.csv", index=False)
    rc = main(["analyze", str(tmp_path / "models.csv"), str(tmp_path / "align.csv"),
               "--covar", "top1", "--out", str(tmp_path / "out"), "-k", "3"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "Table 3: correlation with alignment given top1" in out
    assert "Tables 1-2: mean of the high / mid / low 3 models" in out
    assert (tmp_path / "out" / "figure6.svg").is_file()
    t3 = pd.read_csv(tmp_path / "out" / "table3.csv", index_col=0)
    assert list(t3.index) == ["fewshot_1"] and list(t3.columns) == ["triplet"]
    assert np.isfinite(pd.read_csv(tmp_path / "out" / "tidy_u_shape.csv")["quadratic_p"]).all()
    rc = main(["analyze", str(tmp_path / "models.csv"), str(tmp_path / "nope.csv")])
    assert rc == 2 and "no file" in capsys.readouterr().err


def test_analyze_glocal_reads_a_before_after_csv(tmp_path, capsys):
    from repalign.analysis.before_after import COLUMNS

    rows = []
    for model, da, dd in (("a", 0.05, 0.02), ("b", 0.04, -0.03)):
        for measure, d in (("odd_one_out", da), ("ood_auroc", dd)):
            rows.append({"model": model, "measure": measure, "before": 0.7, "before_low": 0.6,
                         "before_high": 0.8, "after": 0.7 + d, "after_low": 0.6 + d, "after_high": 0.8 + d,
                         "delta": d, "delta_low": d - 0.01, "delta_high": d + 0.01, "p_value": 0.01,
                         "test": "t", "n": 10})
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(tmp_path / "ba.csv", index=False)
    assert main(["analyze", "--glocal", str(tmp_path / "ba.csv"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "both gain" in out and "trade: alignment up, downstream down" in out
    outcomes = pd.read_csv(tmp_path / "out" / "outcomes.csv").set_index("model")["outcome"]
    assert outcomes.to_dict() == {"a": "both gain", "b": "trade: alignment up, downstream down"}
    assert (tmp_path / "out" / "before_after.png").is_file()
    pd.DataFrame({"model": ["a"]}).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["analyze", "--glocal", str(tmp_path / "bad.csv")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["analyze"]) == 2
