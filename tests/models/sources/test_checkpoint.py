"""Checkpoints: the robustness-library layout, safe loading, refusal of pickled objects, errors."""

from __future__ import annotations

import argparse
import pickle

import pytest
import torch
import torchvision

import repalign as ra
from repalign.errors import ConfigError, DataFormatError, UnknownNameError, WeightsUnavailableError
from repalign.models.sources.checkpoint import clean_state_dict
from repalign.models.sources.file_source import parse_file_spec

MEAN, STD = (0.4, 0.45, 0.5), (0.2, 0.22, 0.25)


def robustness_checkpoint(net: torch.nn.Module) -> dict:
    """The layout the robustness library saves: DataParallel(AttackerModel) with a normaliser."""
    sd = {}
    for k, v in net.state_dict().items():
        sd[f"module.model.{k}"] = v.clone()
        sd[f"module.attacker.model.{k}"] = v.clone()
    for prefix in ("module.normalizer.", "module.attacker.normalizer."):
        sd[prefix + "new_mean"] = torch.tensor(MEAN).view(3, 1, 1)
        sd[prefix + "new_std"] = torch.tensor(STD).view(3, 1, 1)
    return {"model": sd, "optimizer": {"state": {}, "param_groups": []}, "schedule": None, "epoch": 90}


@pytest.fixture(scope="module")
def resnet() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10).eval()


def test_robustness_layout_loads_weights_and_normaliser(resnet, tmp_path):
    path = tmp_path / "imagenet_l2_3_0.pt"
    torch.save(robustness_checkpoint(resnet), path)
    m = ra.create_model(f"file:{path}?arch=resnet18&num_classes=10", device="cpu", image_size=64)
    own = m.network.state_dict()
    assert set(own) == set(resnet.state_dict())
    for k, v in resnet.state_dict().items():
        torch.testing.assert_close(own[k], v, rtol=0, atol=0)
    assert m.preprocess.config()["mean"] == pytest.approx(MEAN)
    assert m.preprocess.config()["std"] == pytest.approx(STD)
    x = torch.rand(2, 3, 64, 64)
    ref = resnet((x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1))
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)
    assert m.meta["checkpoint_format"] == "robustness" and m.meta["checkpoint_epoch"] == 90
    assert m.meta["source"] == "file" and m.meta["architecture"] == "torchvision:resnet18"
    assert len(m.meta["checkpoint_sha256"]) == 64


def test_arch_keyword_equals_query(resnet, tmp_path):
    path = tmp_path / "r.pt"
    torch.save(robustness_checkpoint(resnet), path)
    a = ra.create_model(f"file:{path}", arch="resnet18", num_classes=10, device="cpu")
    b = ra.create_model(f"file:{path}?arch=torchvision:resnet18&num_classes=10", device="cpu")
    assert a.weights_sha256() == b.weights_sha256()
    with pytest.raises(ConfigError, match="arch="):
        ra.create_model(f"file:{path}?arch=resnet18", arch="resnet34", device="cpu")
    with pytest.raises(ConfigError, match="num_classes"):
        ra.create_model(f"file:{path}?arch=resnet18&num_classes=10", num_classes=5, device="cpu")


def test_pickled_object_is_refused_without_trust(resnet, tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"state_dict": resnet.state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(DataFormatError, match=r"trust_checkpoint=True.*") as err:
        ra.create_model(f"file:{path}?arch=resnet18&num_classes=10", device="cpu")
    assert "arbitrary code" in str(err.value)
    m = ra.create_model(
        f"file:{path}?arch=resnet18&num_classes=10", device="cpu", trust_checkpoint=True
    )
    torch.testing.assert_close(m.network.fc.weight, resnet.fc.weight)


def test_whole_pickled_module_without_arch(resnet, tmp_path):
    path = tmp_path / "module.pt"
    torch.save(resnet, path)
    with pytest.raises(DataFormatError, match="trust_checkpoint=True"):
        ra.create_model(f"file:{path}", device="cpu")
    m = ra.create_model(f"file:{path}", device="cpu", trust_checkpoint=True)
    torch.testing.assert_close(m.network.fc.weight, resnet.fc.weight)


def test_checkpoint_argument_on_any_source_with_dataparallel_prefix(resnet, tmp_path):
    path = tmp_path / "dp.pt"
    torch.save({f"module.{k}": v for k, v in resnet.state_dict().items()}, path)
    m = ra.create_model("torchvision:resnet18", checkpoint=path, num_classes=10, device="cpu")
    torch.testing.assert_close(m.network.conv1.weight, resnet.conv1.weight, rtol=0, atol=0)
    assert m.meta["pretrained"] is True and m.meta["checkpoint"] == str(path)


def test_safetensors_checkpoint(resnet, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "net.safetensors"
    save_file({k: v.contiguous() for k, v in resnet.state_dict().items()}, str(path))
    m = ra.create_model(f"file:{path}?arch=resnet18&num_classes=10", device="cpu")
    torch.testing.assert_close(m.network.fc.bias, resnet.fc.bias, rtol=0, atol=0)


def test_checkpoint_errors(resnet, tmp_path):
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        ra.create_model(f"file:{tmp_path / 'nope.pt'}?arch=resnet18", device="cpu")
    good = tmp_path / "ok.pt"
    torch.save(resnet.state_dict(), good)
    with pytest.raises(DataFormatError, match=r"does not fit.*fc\.weight"):
        ra.create_model(f"file:{good}?arch=resnet18", device="cpu")  # 1000 classes vs 10
    with pytest.raises(DataFormatError, match="missing"):
        ra.create_model(f"file:{good}?arch=resnet34&num_classes=10", device="cpu")
    with pytest.raises(ConfigError, match=r"\?arch=resnet50"):
        ra.create_model(f"file:{good}", device="cpu")
    with pytest.raises(UnknownNameError, match="resnet18"):
        ra.create_model(f"file:{good}?arch=resnet18x", device="cpu")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(DataFormatError, match=r"junk\.pt"):
        ra.create_model(f"file:{junk}?arch=resnet18", device="cpu")
    other = tmp_path / "other.pt"
    torch.save({"epoch": 3, "notes": "x"}, other)
    with pytest.raises(DataFormatError, match="without a state dict"):
        ra.create_model(f"file:{other}?arch=resnet18", device="cpu")
    with pytest.raises(ConfigError, match="already names a checkpoint"):
        ra.create_model(f"file:{good}?arch=resnet18", checkpoint=good, device="cpu")


def test_pickle_protocol_of_refusal_is_not_bypassed(tmp_path):
    """A payload whose unpickling would run code never runs without trust."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": Payload()}, fh, protocol=2)
    with pytest.raises(DataFormatError, match="trust_checkpoint"):
        ra.create_model(f"file:{path}?arch=resnet18", device="cpu")
    assert not marker.exists()


def test_clean_state_dict_keeps_prefixes_the_network_uses():
    sd = {"model.a": torch.zeros(1), "model.b": torch.zeros(1)}
    assert list(clean_state_dict(sd)[0]) == ["a", "b"]
    assert list(clean_state_dict(sd, {"model.a", "model.b"})[0]) == ["model.a", "model.b"]


def test_parse_file_spec():
    path, opts = parse_file_spec("dir/ck.pt?arch=timm:resnet18&num_classes=10&drop_rate=0.5&flag=true")
    assert str(path) == "dir/ck.pt"
    assert opts == {"arch": "timm:resnet18", "num_classes": 10, "drop_rate": 0.5, "flag": True}
    with pytest.raises(ConfigError, match="twice"):
        parse_file_spec("a.pt?arch=x&arch=y")
    with pytest.raises(ConfigError, match="no path"):
        parse_file_spec("?arch=x")
