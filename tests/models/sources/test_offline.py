"""Offline behaviour: missing weights fail at once (no connection attempted) with the path to use;
weights already in the caches load without any network."""

from __future__ import annotations

import pytest
import torch

import repalign as ra
from repalign.errors import WeightsUnavailableError


def test_torchvision_missing_weights_names_the_file_and_folder(empty_caches):
    with pytest.raises(WeightsUnavailableError, match=r"resnet50-11ad3fa6\.pth") as err:
        ra.create_model("torchvision:resnet50", device="cpu")
    expected = empty_caches / "torch" / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    assert str(expected) in str(err.value)
    assert "pretrained=False" in str(err.value)


def test_torchvision_cached_weights_load_offline(empty_caches):
    import torchvision

    torch.manual_seed(3)
    ref = torchvision.models.resnet18()
    folder = empty_caches / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(ref.state_dict(), folder / "resnet18-f37072fd.pth")
    m = ra.create_model("torchvision:resnet18", device="cpu")
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(m.network.state_dict()[k], v, rtol=0, atol=0)
    assert m.meta["pretrained"] is True and m.meta["weights"] == "IMAGENET1K_V1"
    assert m.meta["accuracy"]["ImageNet-1K"]["acc@1"] == pytest.approx(69.758)


def test_timm_missing_weights_names_repo_and_cache(empty_caches):
    with pytest.raises(WeightsUnavailableError, match=r"timm/resnet18\.a1_in1k") as err:
        ra.create_model("timm:resnet18.a1_in1k", device="cpu")
    assert str(empty_caches / "hf" / "hub" / "models--timm--resnet18.a1_in1k") in str(err.value)


def test_timm_cached_safetensors_load_offline(empty_caches, hf_cache_writer):
    import timm
    from safetensors.torch import save

    torch.manual_seed(4)
    ref = timm.create_model("resnet18", pretrained=False)
    hf_cache_writer(empty_caches, "timm/resnet18.a1_in1k", {"model.safetensors": save(ref.state_dict())})
    m = ra.create_model("timm:resnet18.a1_in1k", device="cpu")
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(m.network(x), ref.eval()(x))
    assert m.meta["weights"] == "a1_in1k"


def test_hf_repo_missing_fails_fast(empty_caches):
    pytest.importorskip("transformers", reason="the hf extra is not installed")
    with pytest.raises(WeightsUnavailableError, match=r"config\.json.*models--google--vit-base-patch16-224"):
        ra.create_model("hf:google/vit-base-patch16-224", device="cpu")


def test_hf_repo_from_cache_loads_weights_and_preprocessing(empty_caches, hf_cache_writer, tmp_path):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        image_size=32, patch_size=8, architectures=["ViTModel"],
    )
    torch.manual_seed(5)
    ref = transformers.ViTModel(cfg).eval()
    save_dir = tmp_path / "saved"
    ref.save_pretrained(save_dir)
    files = {p.name: p.read_bytes() for p in save_dir.iterdir()}
    files["preprocessor_config.json"] = (
        b'{"image_mean": [0.1, 0.2, 0.3], "image_std": [0.4, 0.5, 0.6], "size": {"height": 32, "width": 32}}'
    )
    hf_cache_writer(empty_caches, "org/tiny-vit", files)
    m = ra.create_model("hf:org/tiny-vit", device="cpu")
    assert m.input_size == (3, 32, 32)
    assert m.preprocess.config()["mean"] == pytest.approx([0.1, 0.2, 0.3])
    x = torch.rand(2, 3, 32, 32)
    xn = (x - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1)
    torch.testing.assert_close(m(x), ref(pixel_values=xn).pooler_output)
    assert "hf:org/tiny-vit" in ra.list_models("hf:org/*")


def test_open_clip_missing_weights_fail_fast(empty_caches):
    pytest.importorskip("open_clip")
    with pytest.raises(WeightsUnavailableError, match=r"laion/CLIP-ViT-B-32-laion2B-s34B-b79K"):
        ra.create_model("open_clip:ViT-B-32.laion2b_s34b_b79k", device="cpu")

