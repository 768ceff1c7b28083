"""The before/after table: paired measures, intervals and tests on constructed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from repalign.analysis import before_after, before_after_figure, classify_change, ood_detection
from repalign.analysis.before_after import COLUMNS, bootstrap_p
from repalign.errors import ConfigError
from repalign.similarity import compare, odd_one_out_correct


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(40, 3))                        # the "human" embedding
    x = np.hstack([truth, 3 * rng.normal(size=(40, 5))])    # a model: truth plus nuisance
    sims = truth @ truth.T
    t = np.array([rng.choice(40, 3, replace=False) for _ in range(400)])
    s = sims[t[:, 0], t[:, 1]], sims[t[:, 0], t[:, 2]], sims[t[:, 1], t[:, 2]]
    best = np.argmax(np.stack(s, 1), 1)
    order = np.array([[0, 1, 2], [0, 2, 1], [1, 2, 0]])[best]
    triplets = np.take_along_axis(t, order, 1)
    labels = np.repeat(np.arange(4), 10)
    return x, triplets, sims, labels


def _keep_truth(f: np.ndarray) -> np.ndarray:
    return np.hstack([f[:, :3], 0.01 * f[:, 3:]])  # drops the nuisance: better aligned


def test_identity_transform_changes_nothing(case):
    x, triplets, sims, labels = case
    df = before_after(lambda f: f, features=x, triplets=triplets, reference=sims,
                      few_shot=(x, labels), shots=(2,), repeats=3,
                      ood=(x[:30], x[30:], x[:10] + 5), n_boot=50)
    assert list(df.columns) == list(COLUMNS)
    assert df["measure"].tolist() == ["odd_one_out", "alignment_rsa_spearman", "few_shot_2", "ood_auroc"]
    np.testing.assert_allclose(df["delta"], 0.0, atol=1e-12)
    assert (df["p_value"] == 1.0).all()


def test_values_and_tests_match_independent_computations(case):
    x, triplets, sims, _ = case
    df = before_after(_keep_truth, features=x, triplets=triplets, reference=sims, n_boot=150,
                      ood=(x[:30], x[30:], {"far": x[:10] + 5}), k=3).set_index("measure")
    z = _keep_truth(x)
    cb, ca = odd_one_out_correct(x, triplets), odd_one_out_correct(z, triplets)
    row = df.loc["odd_one_out"]
    assert row.before == pytest.approx(cb.mean()) and row.after == pytest.approx(ca.mean())
    up, down = int(np.sum(ca & ~cb)), int(np.sum(cb & ~ca))
    assert row.p_value == pytest.approx(stats.binomtest(up, up + down).pvalue)
    assert row.after > row.before and row.p_value < 0.05 and row.delta_low > 0
    al = df.loc["alignment_rsa_spearman"]
    assert al.before == pytest.approx(compare(x, sims, "rsa_spearman", kind=("features", "similarity"),
                                              rdm_metric="cosine"))
    assert al.after > al.before and al.p_value < 0.05
    assert al.before_low <= al.before <= al.before_high
    ood = df.loc["ood_auroc_far"]
    ref = ood_detection(z[:30], z[30:], z[:10] + 5 * np.hstack([np.ones(3), 0.01 * np.ones(5)]), k=3, n_boot=2)
    assert ood.after == pytest.approx(ref.value("auroc"))


def test_few_shot_paired_t(case):
    x, _, _, labels = case
    rng = np.random.default_rng(1)
    noisy = lambda f: f + 5 * rng.normal(size=f.shape)  # noqa: E731 - destroys the classes
    df = before_after(noisy, few_shot=(x[:, :3] + labels[:, None], labels), shots=(3,), repeats=4, n_boot=10)
    row = df.iloc[0]
    assert row.test.startswith("paired t") and row.n == 4
    assert row.before_low <= row.before <= row.before_high


def test_classify_change_and_figure(tmp_path):
    rows = []
    for model, da, dd in (("both", 0.1, 0.1), ("trade", 0.1, -0.1), ("flat", 0.0, 0.0)):
        for measure, d in (("odd_one_out", da), ("ood_auroc", dd)):
            rows.append({"model": model, "measure": measure, "before": 0.5, "after": 0.5 + d,
                         "delta": d, "p_value": 0.001 if d else 1.0})
    table = pd.DataFrame(rows)
    out = classify_change(table, "odd_one_out", "ood_auroc").set_index("model")["outcome"].to_dict()
    assert out == {"both": "both gain", "trade": "trade: alignment up, downstream down",
                   "flat": "alignment unchanged, downstream unchanged"}
    paths = before_after_figure(table, "odd_one_out", ["ood_auroc"], tmp_path / "fig")
    assert [p.suffix for p in paths] == [".png", ".svg"] and all(p.stat().st_size > 1000 for p in paths)


def test_bad_input(case):
    x, triplets, _, _ = case
    with pytest.raises(ConfigError, match="at least one of"):
        before_after(lambda f: f, features=x)
    with pytest.raises(ConfigError, match="need the features"):
        before_after(lambda f: f, triplets=triplets)
    with pytest.raises(ConfigError, match="n_boot"):
        before_after(lambda f: f, features=x, triplets=triplets, n_boot=1)
    with pytest.raises(ConfigError, match="train, test_in, test_out"):
        before_after(lambda f: f, ood=(x, x))
    assert bootstrap_p(np.array([1.0, 2.0, 3.0])) == 0.0
