"""``repalign models list|layers`` and ``repalign extract``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from repalign.cli import main
from repalign.features import load_feature_ids, load_features


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("models", "extract", "zoo"):
        assert command in out
    assert main([]) == 0  # no command: the help again
    assert "usage: repalign" in capsys.readouterr().out
    for argv in (["models", "--help"], ["extract", "--help"], ["zoo", "train", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
    assert "--only PATTERN" in capsys.readouterr().out


def test_console_script_runs():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "repalign", "--help"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("usage: repalign")


def test_models_list(capsys):
    assert main(["models", "list", "torchvision:resnet1?"]) == 0
    assert capsys.readouterr().out.split() == ["torchvision:resnet18"]
    assert main(["models", "list", "nosuch:*"]) == 0
    assert "no model matches" in capsys.readouterr().out


def test_models_layers(capsys):
    assert main(["models", "layers", "torchvision:resnet18"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  layer1\tSequential" in lines
    assert "* avgpool\tAdaptiveAvgPool2d" in lines and "* layer3\tSequential" in lines
    assert lines[-1].startswith("(67 layers")


def test_models_layers_of_a_zoo_model(capsys):
    import repalign as ra

    names = ra.list_models("zoo:cnn_standard_*")
    assert names == ["zoo:cnn_standard_s0", "zoo:cnn_standard_s1"]  # shipped with the package
    assert main(["models", "layers", names[0]]) == 0
    out = capsys.readouterr().out
    model = ra.create_model(names[0], device="cpu")
    for layer in model.meta["default_layers"]:
        assert f"* {layer}\t" in out


def test_models_layers_error_is_reported(capsys):
    assert main(["models", "layers", "torchvision:resnet81"]) == 2
    assert "Did you mean 'resnet18'" in capsys.readouterr().err


@pytest.fixture
def image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(3):
            arr = rng.integers(0, 255, size=(20, 20, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / "imgs" / label / f"{i}.png")
    return tmp_path / "imgs"


@pytest.mark.parametrize("suffix", [".h5", ".npz", ""])
def test_extract_writes_features(tmp_path, image_folder, capsys, suffix):
    from repalign.data.loaders import load_stimuli

    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(num_classes=2)
    torch.save(net.state_dict(), tmp_path / "m.pt")
    spec = f"file:{tmp_path / 'm.pt'}?arch=mobilenet_v3_small&num_classes=2"
    out = tmp_path / f"feats{suffix}"
    argv = ["extract", spec, str(image_folder), "--layers", "features.3", "avgpool", "--out", str(out),
            "--reduce", "avgpool", "--batch-size", "4", "--image-size", "32", "--device", "cpu", "-q"]
    assert main(argv) == 0
    assert "written to" in capsys.readouterr().out
    feats = load_features(out)
    assert feats["features.3"].shape == (6, 24) and feats["avgpool"].shape == (6, 576)
    stim = load_stimuli(str(image_folder), channels=3)
    assert load_feature_ids(out) == list(stim.ids)
    # equal to the API on the same stimuli
    import repalign as ra

    m = ra.create_model(spec, device="cpu", image_size=32)
    ref = ra.extract_features(m, stim, ["avgpool"], reduce="avgpool", quiet=True)["avgpool"]
    np.testing.assert_allclose(feats["avgpool"], ref, rtol=1e-5, atol=1e-6)



class _ClosedPipe:
    """A stdout whose reader has gone away."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        pass

    def fileno(self):
        import io

        raise io.UnsupportedOperation("fileno")


def test_output_into_a_closed_pipe_returns_141(monkeypatch):
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert main(["models", "list", "zoo:*"]) == 141


def test_output_into_a_closed_pipe_stops_quietly():
    # `repalign models list 'timm:*' | head -1`: more than a pipe buffer, the reader leaves early
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "repalign", "models", "list", "timm:*"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"timm:")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err
