"""create_model / list_models: specs, options, names, errors."""

from __future__ import annotations

import fnmatch

import pytest
import torch

import repalign as ra
from repalign.errors import ConfigError, UnknownNameError
from repalign.models.sources.base import parse_spec, split_tag


def test_parse_spec_and_tags():
    assert parse_spec("hf:google/vit-base-patch16-224") == ("hf", "google/vit-base-patch16-224")
    assert parse_spec("file:C:/x.pt?arch=resnet18") == ("file", "C:/x.pt?arch=resnet18")
    assert split_tag("resnet50.a1_in1k") == ("resnet50", "a1_in1k")
    for bad in ("resnet18", ":resnet18", "torchvision:", 3):
        with pytest.raises(ConfigError, match="source:name"):
            parse_spec(bad)  # type: ignore[arg-type]


def test_unknown_source_and_names_list_valid_and_closest():
    with pytest.raises(UnknownNameError, match=r"Did you mean 'torchvision'.*Valid model source names"):
        ra.create_model("torchvison:resnet18", pretrained=False)
    with pytest.raises(UnknownNameError, match=r"Did you mean 'resnet18'"):
        ra.create_model("torchvision:resnet81", pretrained=False)
    with pytest.raises(UnknownNameError, match=r"IMAGENET1K_V1"):
        ra.create_model("torchvision:resnet18.IMAGENET_V9")
    with pytest.raises(UnknownNameError, match=r"resnet18"):
        ra.create_model("timm:resnet18x", pretrained=False)


def test_contradicting_options_raise():
    with pytest.raises(ConfigError, match="pretrained=False"):
        ra.create_model("torchvision:resnet18.IMAGENET1K_V1", pretrained=False)
    with pytest.raises(ConfigError, match="pretrained=False"):
        ra.create_model("timm:resnet18.a1_in1k", pretrained=False)
    with pytest.raises(ConfigError, match="image_size"):
        ra.create_model("torchvision:resnet18", pretrained=False, image_size=(0, 4))
    with pytest.raises(ConfigError, match=r"device must be.*received 'gpu'"):
        ra.create_model("torchvision:resnet18", pretrained=False, device="gpu")
    pytest.importorskip("transformers", reason="the hf extra is not installed")
    with pytest.raises(ConfigError, match="names an architecture"):
        ra.create_model("hf:vit")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present: device='cuda' is valid")
def test_cuda_requested_without_cuda_raises():
    with pytest.raises(ConfigError, match="CUDA"):
        ra.create_model("torchvision:resnet18", pretrained=False, device="cuda")


def test_model_is_frozen_eval_on_device_with_options():
    m = ra.create_model("torchvision:resnet18", pretrained=False, device="cpu", num_classes=7, image_size=(48, 40))
    assert not m.training and not any(p.requires_grad for p in m.parameters())
    assert m.input_size == (3, 48, 40) and m.preprocess.size == (48, 40)
    assert m(torch.rand(2, 3, 48, 40)).shape == (2, 7)
    # other input sizes are resized by the preprocessing
    assert m(torch.rand(2, 3, 30, 30)).shape == (2, 7)
    assert m.meta["pretrained"] is False and m.meta["training"] == "random init"
    assert m.meta["input_size"] == [3, 48, 40]


def test_list_models_globs_over_what_the_libraries_offer():
    import timm
    import torchvision

    tv = ra.list_models("torchvision:*")
    archs = torchvision.models.list_models(module=torchvision.models)
    assert {f"torchvision:{a}" for a in archs} <= set(tv)
    assert "torchvision:resnet50.IMAGENET1K_V2" in tv
    assert ra.list_models("torchvision:resnet1?") == ["torchvision:resnet18"]
    got = ra.list_models("timm:resnet1*")
    assert {f"timm:{n}" for n in timm.list_models("resnet1*")} <= set(got)
    assert all(fnmatch.fnmatchcase(n, "timm:resnet1*") for n in got)
    assert ra.list_models("nosuchsource:*") == []
    assert ra.list_models("file:*") == []


def test_weights_sha_changes_with_weights():
    torch.manual_seed(0)
    a = ra.create_model("torchvision:resnet18", pretrained=False, device="cpu")
    torch.manual_seed(1)
    b = ra.create_model("torchvision:resnet18", pretrained=False, device="cpu")
    assert a.meta["weights_sha256"] != b.meta["weights_sha256"]
