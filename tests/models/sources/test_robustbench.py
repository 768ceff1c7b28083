"""robustbench: source: architectures built offline, weights from RobustBench's folder layout."""

from __future__ import annotations

import enum
import sys
import types

import pytest
import torch
import torchvision
from torch import nn

import repalign as ra
from repalign.errors import (
    ConfigError,
    MissingDependencyError,
    UnknownNameError,
    WeightsUnavailableError,
)
from repalign.models.factory import expand_model_specs
from repalign.models.sources.robustbench_source import weights_path

MEAN, STD = (0.4, 0.45, 0.5), (0.2, 0.22, 0.25)


@pytest.fixture(scope="module")
def r18() -> nn.Module:
    torch.manual_seed(1)
    return torchvision.models.resnet18().eval()


def _normalized(x: torch.Tensor) -> torch.Tensor:
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def test_random_init_builds_the_architecture(no_network):
    m = ra.create_model("robustbench:Engstrom2019Robustness?dataset=imagenet&threat=Linf",
                        pretrained=False, device="cpu")
    assert m.meta["architecture"] == "torchvision:resnet50" and m.input_size == (3, 224, 224)
    assert m.spec == "robustbench:Engstrom2019Robustness?dataset=imagenet&threat=Linf"
    assert {"layer3", "layer4", "fc"} <= set(m.layers())
    assert m.preprocess.config()["mean"] == pytest.approx([0.485, 0.456, 0.406])
    wong = ra.create_model("robustbench:Wong2020Fast", pretrained=False, device="cpu")
    assert wong.input_size == (3, 288, 288)  # RobustBench evaluates it at a 288 crop


def test_weights_from_robustbench_layout(r18, tmp_path, no_network):
    # RobustBench's wrapper: Sequential(normalize=ImageNormalizer, model=resnet), saved whole
    sd = {f"model.{k}": v.clone() for k, v in r18.state_dict().items()}
    sd["normalize.mean"] = torch.tensor(MEAN).view(1, 3, 1, 1)
    sd["normalize.std"] = torch.tensor(STD).view(1, 3, 1, 1)
    path = weights_path(tmp_path, "Salman2020Do_R18")
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": sd}, path)
    assert path == tmp_path / "imagenet" / "Linf" / "Salman2020Do_R18.pt"
    m = ra.create_model("robustbench:Salman2020Do_R18", model_dir=tmp_path, device="cpu")
    for k, v in r18.state_dict().items():
        torch.testing.assert_close(m.network.state_dict()[k], v, rtol=0, atol=0)
    assert m.preprocess.config()["mean"] == pytest.approx(MEAN)
    x = torch.rand(2, 3, 224, 224)
    torch.testing.assert_close(m(x), r18(_normalized(x)), rtol=1e-4, atol=1e-4)
    assert m.meta["checkpoint"] == str(path) and m.meta["pretrained"] is True


def test_robustness_library_layout_through_env_folder(r18, tmp_path, monkeypatch, no_network):
    # the ImageNet checkpoints of the robustness library: module.model.*, attacker copy, normaliser
    sd = {}
    for k, v in r18.state_dict().items():
        sd[f"module.model.{k}"] = v.clone()
        sd[f"module.attacker.model.{k}"] = v.clone()
    sd["module.normalizer.new_mean"] = torch.tensor(MEAN).view(3, 1, 1)
    sd["module.normalizer.new_std"] = torch.tensor(STD).view(3, 1, 1)
    path = weights_path(tmp_path, "Salman2020Do_R18")
    path.parent.mkdir(parents=True)
    torch.save({"model": sd, "epoch": 3}, path)
    monkeypatch.setenv("REPALIGN_ROBUSTBENCH_DIR", str(tmp_path))
    m = ra.create_model("robustbench:Salman2020Do_R18?dataset=imagenet&threat=Linf", device="cpu")
    x = torch.rand(1, 3, 224, 224)
    torch.testing.assert_close(m(x), r18(_normalized(x)), rtol=1e-4, atol=1e-4)


def test_missing_weights_and_bad_specs(tmp_path, no_network):
    with pytest.raises(WeightsUnavailableError, match=r"not available offline.*imagenet/Linf/"
                       r"Engstrom2019Robustness\.pt"):
        ra.create_model(f"robustbench:Engstrom2019Robustness?model_dir={tmp_path}")
    with pytest.raises(UnknownNameError, match="RobustBench threat model"):
        ra.create_model("robustbench:Engstrom2019Robustness?threat=Linfinity", pretrained=False)
    with pytest.raises(UnknownNameError, match="RobustBench dataset"):
        ra.create_model("robustbench:Engstrom2019Robustness?dataset=imagenet1k", pretrained=False)
    with pytest.raises(ConfigError, match="unknown option"):
        ra.create_model("robustbench:Engstrom2019Robustness?eps=4", pretrained=False)
    with pytest.raises(ConfigError, match="no model name"):
        ra.create_model("robustbench:?threat=Linf", pretrained=False)


def test_other_zoo_models_need_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "robustbench", None)  # not installed
    with pytest.raises(MissingDependencyError, match=r"repalign\[robustbench\]"):
        ra.create_model("robustbench:Carmon2019Unlabeled?dataset=cifar10", pretrained=False)


def test_zoo_entries_from_the_package(tmp_path, monkeypatch, no_network):
    """With the package present, the architecture comes from its model_dicts (faked here)."""

    class Dataset(enum.Enum):
        cifar_10 = "cifar10"

    class Threat(enum.Enum):
        Linf = "Linf"

    torch.manual_seed(2)
    arch = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 30 * 30, 10))
    dicts = {Dataset.cifar_10: {Threat.Linf: {"Tiny2024": {"model": lambda: _copy(arch)}}}}
    zoo = types.ModuleType("robustbench.model_zoo")
    zoo.model_dicts = dicts  # type: ignore[attr-defined]
    enums = types.ModuleType("robustbench.model_zoo.enums")
    enums.BenchmarkDataset, enums.ThreatModel = Dataset, Threat  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "robustbench", types.ModuleType("robustbench"))
    monkeypatch.setitem(sys.modules, "robustbench.model_zoo", zoo)
    monkeypatch.setitem(sys.modules, "robustbench.model_zoo.enums", enums)
    path = weights_path(tmp_path, "Tiny2024", "cifar10", "Linf")
    path.parent.mkdir(parents=True)
    torch.save({f"module.{k}": v for k, v in arch.state_dict().items()}, path)
    spec = f"robustbench:Tiny2024?dataset=cifar10&model_dir={tmp_path}"
    m = ra.create_model(spec, device="cpu")
    assert m.input_size == (3, 32, 32)
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(m(x), arch(x))  # normalisation is the network's own
    with pytest.raises(UnknownNameError, match="Tiny2024"):
        ra.create_model("robustbench:Tiny2023?dataset=cifar10", pretrained=False)


def _copy(module: nn.Module) -> nn.Module:
    out = type(module)(*[type(m)(*_args(m)) for m in module])  # same architecture, fresh weights
    return out


def _args(m: nn.Module) -> tuple:
    if isinstance(m, nn.Conv2d):
        return (m.in_channels, m.out_channels, m.kernel_size)
    if isinstance(m, nn.Linear):
        return (m.in_features, m.out_features)
    return ()


def test_listing_and_spec_expansion():
    assert "robustbench:Engstrom2019Robustness" in ra.list_models("robustbench:*")
    spec = "robustbench:Engstrom2019Robustness?dataset=imagenet&threat=Linf"
    assert expand_model_specs([spec, "robustbench:Salman2020Do_R*"]) == [
        spec, "robustbench:Salman2020Do_R18", "robustbench:Salman2020Do_R50"]
