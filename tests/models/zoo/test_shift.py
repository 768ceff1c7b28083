"""The zoo's accuracy on bundled:digits_shifted: shift_accuracies, zoo_table and zoo list."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repalign.cli import main
from repalign.data.shifted import RENDITIONS, shifted_digits_test
from repalign.models.zoo import load_zoo_model, shift_accuracies, zoo_table


def test_shift_accuracies_match_a_direct_count() -> None:
    model = load_zoo_model("mlp_linf_s0")
    accs = shift_accuracies(model, ["outline", "striped"])
    assert list(accs) == ["shift_acc", "shift_acc_outline", "shift_acc_striped"]
    stim = shifted_digits_test(renditions=["outline", "striped"])
    with torch.no_grad():
        hit = model(stim.images).argmax(1).numpy() == stim.labels
    n = len(hit) // 2
    assert accs["shift_acc_outline"] == pytest.approx(hit[:n].mean())
    assert accs["shift_acc_striped"] == pytest.approx(hit[n:].mean())
    assert accs["shift_acc"] == pytest.approx(hit.mean())


def test_zoo_table_and_list_show_shifted_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    table = zoo_table("resnet_standard_s*", shift=True).set_index("name")
    assert "shift_acc" not in zoo_table("resnet_standard_s*")
    expect = shift_accuracies(load_zoo_model("resnet_standard_s0"))
    assert table.loc["resnet_standard_s0", "shift_acc"] == pytest.approx(expect["shift_acc"])
    assert np.isclose(expect["shift_acc"], np.mean([expect[f"shift_acc_{r}"] for r in RENDITIONS]))
    assert (table["shift_acc"] < table["clean_acc"]).all()
    assert main(["zoo", "list", "resnet_standard_s0", "--shift"]) == 0
    out = capsys.readouterr().out
    assert "shift_acc" in out and "bundled:digits_shifted" in out
