"""Shipped checkpoints, loading, the user zoo folder, resumable training, the sweep and the CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from repalign.cli import main
from repalign.errors import ConfigError, DataFormatError, UnknownNameError
from repalign.models.zoo import (
    EPSILON,
    STYLES,
    TrainConfig,
    builtin_configs,
    builtin_dir,
    evaluate,
    load_checkpoint,
    load_zoo_model,
    read_meta,
    sample_sweep_configs,
    save_checkpoint,
    store,
    train_many,
    zoo_names,
    zoo_table,
)
from repalign.models.zoo.checkpoints import read_checkpoint
from repalign.models.zoo.training import digits_tensors, make_model

META_KEYS = {
    "source", "name", "architecture", "style", "seed", "default_layers", "penultimate",
    "classes", "config", "norm", "epsilon", "clean_acc", "robust_acc_l2", "robust_acc_linf",
    "eval", "train_loss", "train_time_s", "weights_sha256", "num_params", "versions",
}
TINY = {"arch": "mlp", "width": 8, "depth": 1, "epochs": 1}


@pytest.fixture(autouse=True)
def one_thread_and_user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """One torch thread (tiny networks) and an empty user zoo folder for every test."""
    monkeypatch.setenv(store.ENV_VAR, str(tmp_path / "userzoo"))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_eighteen_builtin_models_shipped_small_and_complete() -> None:
    names = builtin_configs()
    assert len(names) == 18
    assert {c.arch for c in names.values()} == {"mlp", "cnn", "resnet"}
    assert {c.style for c in names.values()} == {"standard", "pgd_l2", "pgd_linf"}
    files = sorted(builtin_dir().glob("*.pt"))
    assert [f.stem for f in files] == sorted(names)
    assert sum(f.stat().st_size for f in files) < 1_000_000
    for f in files:
        blob = torch.load(f, map_location="cpu", weights_only=True)
        meta = blob["meta"]
        assert META_KEYS <= set(meta), f.name
        assert meta["config"] == names[f.stem].to_dict()
        assert json.loads(json.dumps(meta)) == meta
        assert all(v.dtype in (torch.float16, torch.int64) for v in blob["state_dict"].values())


def test_builtin_accuracy_targets() -> None:
    metas = {n: read_meta(builtin_dir() / f"{n}.pt") for n in builtin_configs()}
    for name, meta in metas.items():
        if meta["style"] == "standard":
            assert meta["clean_acc"] >= 0.97, name
    for norm, style in (("l2", "pgd_l2"), ("linf", "pgd_linf")):
        key = f"robust_acc_{norm}"
        best_standard = max(m[key] for m in metas.values() if m["style"] == "standard")
        worst_adv = min(m[key] for m in metas.values() if m["style"] == style)
        assert worst_adv > best_standard + 0.15, (norm, worst_adv, best_standard)


def test_shipped_checkpoint_reproduces_its_accuracies() -> None:
    from repalign.models.zoo.attacks import accuracy

    d = digits_tensors()
    for name in ("cnn_l2_s1", "resnet_standard_s0"):
        model = load_zoo_model(name, device="cpu")
        assert accuracy(model, d.x_test, d.y_test) == model.meta["clean_acc"], name
    model = load_zoo_model("mlp_linf_s0", device="cpu")
    meta = model.meta
    assert model.weights_sha256() == meta["weights_sha256"]
    assert not model.training and model.spec == "zoo:mlp_linf_s0"
    measured = evaluate(model, d.x_test, d.y_test)
    for key, value in measured.items():
        assert value == meta[key], key
    assert meta["eval"] == {"eps_l2": EPSILON["l2"], "eps_linf": EPSILON["linf"],
                            "pgd_steps": 20, "test_images": len(d.y_test)}


def test_zoo_names_and_user_folder(tmp_path: Path) -> None:
    assert set(builtin_configs()) <= set(zoo_names())
    assert zoo_names("resnet_l2_*") == ["resnet_l2_s0", "resnet_l2_s1"]
    model = make_model(TrainConfig(**TINY), "mine")
    save_checkpoint(model, store.user_dir() / "mine.pt")
    assert "mine" in zoo_names()
    loaded = load_zoo_model("zoo:mine", device="cpu")
    assert loaded.meta["name"] == "mine"
    torch.testing.assert_close(loaded.network.fc1.weight,
                               model.network.fc1.weight.half().float())
    table = zoo_table()
    assert table.set_index("name").loc["mine", "location"] == "user"
    assert (table["location"] == "builtin").sum() == 18


def test_save_warns_when_weights_are_not_float16_exact(tmp_path: Path) -> None:
    from repalign.models.zoo.training import round_to_float16

    model = make_model(TrainConfig(**TINY), "w")
    model.meta["weights_sha256"] = model.weights_sha256()
    with pytest.warns(UserWarning, match="not float16-exact"):
        save_checkpoint(model, tmp_path / "w.pt")
    round_to_float16(model)
    model.meta["weights_sha256"] = model.weights_sha256()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_checkpoint(model, tmp_path / "w.pt")  # float16-exact now: no warning
    assert load_checkpoint(tmp_path / "w.pt").weights_sha256() == model.meta["weights_sha256"]


def test_unknown_and_bad_names() -> None:
    with pytest.raises(UnknownNameError, match="cnn_standard_s0"):
        load_zoo_model("cnn_standrd_s0")
    with pytest.raises(ConfigError, match="no folders"):
        load_zoo_model("../etc/passwd")


def test_missing_builtin_trains_on_first_use_then_loads(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    empty = tmp_path / "no_checkpoints"
    empty.mkdir()
    monkeypatch.setattr(store, "builtin_dir", lambda: empty)
    monkeypatch.setattr(store, "builtin_configs", lambda: {"tiny_s0": TrainConfig(**TINY)})
    with pytest.raises(DataFormatError, match="zoo train --only tiny_s0"):
        load_zoo_model("tiny_s0", train_if_missing=False)
    first = load_zoo_model("tiny_s0", device="cpu")
    path = store.user_dir() / "tiny_s0.pt"
    assert path.is_file() and first.meta["checkpoint"] == str(path)
    stamp = path.stat().st_mtime_ns
    second = load_zoo_model("tiny_s0", device="cpu")
    assert path.stat().st_mtime_ns == stamp  # loaded, not retrained
    assert second.weights_sha256() == first.weights_sha256()


def test_bad_checkpoints_refused(tmp_path: Path) -> None:
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(DataFormatError, match="not a repalign zoo checkpoint"):
        load_checkpoint(tmp_path / "tensor.pt")
    torch.save({"format": "repalign.zoo/1", "obj": np.dtype("float32").type},
               tmp_path / "pickled.pt")
    with pytest.raises(DataFormatError, match="weights_only=True"):
        load_checkpoint(tmp_path / "pickled.pt")
    (tmp_path / "trunc.pt").write_bytes((builtin_dir() / "mlp_l2_s0.pt").read_bytes()[:500])
    with pytest.raises(DataFormatError, match=r"trunc\.pt"):
        load_checkpoint(tmp_path / "trunc.pt")
    blob = torch.load(builtin_dir() / "mlp_l2_s0.pt", weights_only=True)
    blob["state_dict"]["head.bias"][0] += 1
    torch.save(blob, tmp_path / "edited.pt")
    with pytest.raises(DataFormatError, match="does not match the stored"):
        load_checkpoint(tmp_path / "edited.pt")


def test_train_many_resumes_and_is_bit_identical(tmp_path: Path) -> None:
    configs = {"a": TINY, "b": {**TINY, "seed": 1}}
    first = train_many(configs, tmp_path, quiet=True)
    assert list(first["status"]) == ["trained", "trained"]
    again = train_many(configs, tmp_path, quiet=True)
    assert list(again["status"]) == ["skipped", "skipped"]
    assert list(again["weights_sha256"]) == list(first["weights_sha256"])
    changed = train_many({"a": {**TINY, "epochs": 2}, "b": configs["b"]}, tmp_path, quiet=True)
    assert list(changed["status"]) == ["trained", "skipped"]
    redo = train_many({"b": configs["b"]}, tmp_path, force=True, quiet=True)
    assert redo.loc[0, "weights_sha256"] == first.loc[1, "weights_sha256"]  # bit-identical
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    with pytest.raises(ConfigError, match="jobs"):
        train_many(configs, tmp_path, jobs=0)


def test_sweep_configs_cover_styles_and_are_stable() -> None:
    cfgs = sample_sweep_configs(36, seed=3)
    pairs = {(c.arch, c.style) for c in cfgs.values()}
    assert len(pairs) == 18 and {s for _, s in pairs} == set(STYLES)
    assert list(sample_sweep_configs(5, seed=3).items()) == list(cfgs.items())[:5]
    assert sample_sweep_configs(36, seed=3) == cfgs
    assert sample_sweep_configs(36, seed=4) != cfgs
    for field in ("width", "depth", "epochs", "augmentation", "label_smoothing"):
        assert len({getattr(c, field) for c in cfgs.values()}) > 1, field
    adversarial = [c for c in cfgs.values() if c.adversarial]
    assert {c.norm for c in adversarial} == {"l2", "linf"}
    with pytest.raises(ConfigError, match="positive"):
        sample_sweep_configs(0)


def test_cli_zoo_list_and_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zoo", "list", "cnn_*"]) == 0
    out = capsys.readouterr().out
    assert "cnn_l2_s0" in out and "mlp_l2_s0" not in out and "clean_acc" in out
    assert main(["zoo", "train", "--out", str(tmp_path), "--only", "nothing*"]) == 2
    assert "matches no built-in zoo model" in capsys.readouterr().err
    # retraining is deterministic: two runs give bit-identical weights on this machine
    for run in ("a", "b"):
        assert main(["zoo", "train", "--out", str(tmp_path / run), "--only", "mlp_standard_s0",
                     "--quiet"]) == 0
        out = capsys.readouterr().out
        assert "mlp_standard_s0" in out and "max_abs_diff_to_shipped" in out
    meta_a = read_meta(tmp_path / "a" / "mlp_standard_s0.pt")
    assert meta_a["weights_sha256"] == read_meta(tmp_path / "b" / "mlp_standard_s0.pt")[
        "weights_sha256"]
    # and it reproduces the shipped model: bit for bit on the CPU it was trained on, elsewhere
    # within a few float16 steps (CPU kernels round differently), with the same accuracies
    shipped_path = builtin_dir() / "mlp_standard_s0.pt"
    shipped, retrained = (read_checkpoint(p)["state_dict"]
                          for p in (shipped_path, tmp_path / "a" / "mlp_standard_s0.pt"))
    assert shipped.keys() == retrained.keys()
    for key, value in shipped.items():
        assert value.shape == retrained[key].shape, key
        assert (value.double() - retrained[key].double()).abs().max() <= 1e-3, key
    shipped_meta = read_meta(shipped_path)
    n_test = shipped_meta["eval"]["test_images"]
    for acc in ("clean_acc", "robust_acc_l2", "robust_acc_linf"):
        assert abs(meta_a[acc] - shipped_meta[acc]) <= 2 / n_test + 1e-12, acc
