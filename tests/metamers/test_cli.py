import json

import pytest

from repalign.cli import build_parser, main
from repalign.metamers.result import MetamerResult


def test_cli_generates_saves_and_plots(tmp_path, capsys):
    out = tmp_path / "run"
    code = main([
        "metamers", "zoo:cnn_standard_s0", "bundled:digits", "--layers", "block2", "flatten",
        "--n", "3", "--steps", "30", "--out", str(out), "--quiet", "--no-png",
        "--null", "bundled:digits",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "success_rate" in printed and "6 metamer(s)" in printed
    res = MetamerResult.load(out)
    assert len(res) == 6 and res.layers == ["block2"] * 3 + ["flatten"] * 3
    assert res.target_ids == ["digits/0000", "digits/0001", "digits/0002"] * 2
    assert res.config["steps"] == 30 and res.config["null_images"] == 1797
    assert (out / "metamers.png").is_file() and (out / "metamers.svg").is_file()
    assert not (out / "png").exists()
    assert json.loads((out / "result.json").read_text())["n"] == 6


def test_cli_reports_bad_input(tmp_path, capsys):
    code = main(["metamers", "zoo:cnn_standard_s0", "bundled:digits", "--layers", "block9",
                 "--n", "2", "--out", str(tmp_path / "x"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "Unknown layer of zoo:cnn_standard_s0 'block9'" in err and "block1" in err
    code = main(["metamers", "zoo:cnn_standard_s0", "bundled:digits", "--layers", "block2",
                 "--steps", "0", "--out", str(tmp_path / "y"), "--quiet"])
    assert code == 2 and "steps must be a positive integer" in capsys.readouterr().err


def test_cli_same_label_modes():
    """--same-label alone is the generator's label (Feather's check); 'true' the target's label."""
    base = ["metamers", "zoo:cnn_standard_s0", "bundled:digits", "--out", "x"]
    parse = build_parser().parse_args
    assert parse(base).same_label is False
    assert parse([*base, "--same-label"]).same_label == "predicted"
    assert parse([*base, "--same-label", "predicted"]).same_label == "predicted"
    assert parse([*base, "--same-label", "true"]).same_label == "true"
    with pytest.raises(SystemExit):
        parse([*base, "--same-label", "yes"])


def test_cli_recipe_precision_and_checkpoint(tmp_path, capsys):
    out, ck = tmp_path / "run", tmp_path / "ck"
    args = ["metamers", "zoo:cnn_standard_s0", "bundled:digits", "--layers", "block2", "--n", "2",
            "--recipe", "feather", "--steps", "16", "--precision", "bf16", "--channels-last",
            "--checkpoint", str(ck), "--checkpoint-every", "5", "--out", str(out), "--quiet",
            "--no-png", "--no-figure"]
    assert main(args) == 0
    res = MetamerResult.load(out)
    assert (res.config["preset"], res.config["precision"], res.config["channels_last"]) == (
        "feather", "bf16", True)
    assert sorted(p.name for p in ck.glob("batch-*")) == ["batch-00000.done.pt"]
    capsys.readouterr()
    code = main(["metamers", "zoo:cnn_standard_s0", "bundled:digits", "--layers", "block2",
                 "--n", "2", "--amp", "--device", "cpu", "--out", str(tmp_path / "x"), "--quiet"])
    assert code == 2 and "precision='bf16'" in capsys.readouterr().err
