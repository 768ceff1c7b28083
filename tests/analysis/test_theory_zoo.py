"""The teacher-student game and the domain-shift measures on real zoo models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repalign.analysis.theory import simulate_zoo_pairs, zoo_shift
from repalign.data.shifted import shifted_digits_test
from repalign.errors import ConfigError
from repalign.models.zoo import load_zoo_model


def test_zoo_students_pay_more_than_the_teacher() -> None:
    table = simulate_zoo_pairs("cnn_l2_s0", ["mlp_standard_s0"], n_shared=10, n_candidates=40,
                               trials=40).set_index("student")
    assert list(table.index) == ["cnn_l2_s0", "mlp_standard_s0"]
    own = table.loc["cnn_l2_s0"]
    assert own["eps"] == 0 and own["eps_game"] == 0 and own["error_rate"] == 0
    # with eps = 0 the game is a noiseless search: about log2 M answers on average (the exact
    # bound holds for a uniform draw; 40 draws of the new object are only roughly uniform)
    assert np.log2(own["candidates"]) - 0.5 <= own["queries_mean"] <= np.log2(40) + 2
    student = table.loc["mlp_standard_s0"]
    assert 0.05 < student["eps"] < 0.5 and abs(student["eps_game"] - student["eps"]) < 0.1
    assert student["queries_mean"] > own["queries_mean"]
    assert student["queries_mean"] <= 45  # never more than the P = 45 distinct pairs
    with pytest.raises(ConfigError, match="at most 896"):
        simulate_zoo_pairs("cnn_l2_s0", [], n_shared=500, n_candidates=500)


def test_zoo_shift_accuracy_and_sensitivity() -> None:
    table = zoo_shift("cnn_l2_s0", ["resnet_standard_s0"], n_images=20,
                      renditions=["inverted", "thick"]).set_index("model")
    assert list(table.index) == ["cnn_l2_s0", "resnet_standard_s0"]
    assert table.loc["cnn_l2_s0", "eps"] == 0
    shifted = shifted_digits_test(renditions=["inverted", "thick"])
    n = len(shifted) // 2
    model = load_zoo_model("resnet_standard_s0")
    with torch.no_grad():
        pred = model(shifted.images).argmax(1).numpy()
    row = table.loc["resnet_standard_s0"]
    assert row["shift_acc_inverted"] == pytest.approx(np.mean(pred[:n] == shifted.labels[:n]))
    assert row["shift_acc_thick"] == pytest.approx(np.mean(pred[n:] == shifted.labels[n:]))
    assert row["shift_acc"] == pytest.approx((row["shift_acc_inverted"]
                                              + row["shift_acc_thick"]) / 2)
    assert 0 < row["sigma"] < 0.6 and 0 < row["eps"] < 0.5
    assert row["predicted_sigma"] == pytest.approx(2 * row["eps"] * (1 - row["eps"]))
