"""DreamSim offline: the distance and the model source equal the package's own forward on weights
the test writes; missing weights or a missing package raise the named errors."""

from __future__ import annotations

import pytest
import torch

import repalign as ra
from repalign.errors import (
    ConfigError,
    MissingDependencyError,
    UnknownNameError,
    WeightsUnavailableError,
)
from repalign.perceptual import get_distance, list_distances, pairwise_distances

pytest.importorskip("dreamsim")


def test_listed():
    assert "dreamsim" in list_distances()
    assert {"dreamsim:clip_vitb32", "dreamsim:open_clip_vitb32"} <= set(list_distances("dreamsim:*"))
    assert ra.list_models("dreamsim:*") == [f"dreamsim:{v}" for v in
                                           ("clip_vitb32", "dino_vitb16", "ensemble", "open_clip_vitb32",
                                            "synclr_vitb16")]


@pytest.mark.filterwarnings("ignore:Already found a `peft_config`")  # the package's own loader
@pytest.mark.parametrize("variant", ["clip_vitb32", "open_clip_vitb32"])
def test_distance_equals_the_package(variant, tiny_dreamsim, no_network):
    import dreamsim

    ref, _ = dreamsim.dreamsim(pretrained=True, device="cpu", cache_dir=str(tiny_dreamsim),
                               dreamsim_type=variant)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(3, 3, 224, 224, generator=g), torch.rand(3, 3, 224, 224, generator=g)
    hub = torch.hub.get_dir()
    d = get_distance(f"dreamsim:{variant}")
    assert torch.hub.get_dir() == hub  # loading leaves torch hub's folder alone
    with torch.no_grad():
        torch.testing.assert_close(d(x, y), ref(x, y), rtol=1e-4, atol=1e-5)
        assert torch.allclose(d(x, x), torch.zeros(3), atol=1e-5)
        pair = pairwise_distances(x, y, f"dreamsim:{variant}")
    torch.testing.assert_close(torch.diagonal(pair), d(x, y).detach(), rtol=1e-4, atol=1e-5)
    # the LoRA adapters are applied: the base ViT alone gives other distances
    with torch.no_grad(), ref.disable_adapter():
        assert not torch.allclose(ref(x, y), d(x, y))
    # grey, small images: repeated to RGB and resized; differentiable
    a = torch.rand(2, 1, 32, 32, requires_grad=True)
    d(a, torch.rand(2, 1, 32, 32)).sum().backward()
    assert a.grad is not None and torch.isfinite(a.grad).all()


def test_model_source_features(tiny_dreamsim, no_network):
    m = ra.create_model("dreamsim:clip_vitb32", device="cpu")
    assert m.meta["source"] == "dreamsim" and m.meta["default_layers"] == ["embedding"]
    assert not m.training and all(not p.requires_grad for p in m.parameters())
    x = torch.rand(4, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    feats = ra.extract_features(m, x, ["embedding"], quiet=True)["embedding"]
    assert feats.shape == (4, 16)
    torch.testing.assert_close(torch.linalg.norm(torch.from_numpy(feats), dim=1), torch.ones(4),
                               rtol=1e-4, atol=1e-4)


def test_metamer_regularizers_two_afc_and_clustering_accept_dreamsim(tiny_dreamsim, no_network):
    from repalign.metamers.regularizers import build_loss

    lean = build_loss("human_leaning:perceptual=1.0,distance=dreamsim:clip_vitb32")
    adv = build_loss("adversarial:distance=dreamsim:clip_vitb32")
    assert "dreamsim:clip_vitb32(x, target)" in lean.name and "dreamsim:clip_vitb32" in adv.name
    model = ra.create_model("zoo:cnn_standard_s0", device="cpu")
    digits = ra.load_stimuli("bundled:digits")
    targets = digits.images[[0, 1, 2, 10, 11, 12]]
    res = ra.generate_metamers([model], targets, layers="flatten", steps=3, repeats=2, stop="fixed",
                               null_stimuli=digits.images[:40], regularizer="human_leaning:perceptual=1.0,distance=dreamsim:clip_vitb32",
                               quiet=True)
    assert res.images.shape == (12, 1, 32, 32)
    afc = ra.evaluation.two_afc(res, distance="dreamsim:clip_vitb32", n_boot=20)
    assert afc["distance"].iloc[0] == "dreamsim:clip_vitb32" and afc["value"].between(0, 1).all()
    clus = ra.evaluation.clustering(res, distance="dreamsim:clip_vitb32", n_boot=20)
    assert len(clus) > 0


def test_missing_weights_and_variants(tmp_path, monkeypatch):
    monkeypatch.setenv("REPALIGN_DREAMSIM_DIR", str(tmp_path / "none"))
    with pytest.raises(WeightsUnavailableError, match=r"not available offline.*clip_vitb32_pretrain\.pth\.tar"
                                                      r".*dreamsim_clip_vitb32_checkpoint\.zip"):
        get_distance("dreamsim:clip_vitb32")
    with pytest.raises(WeightsUnavailableError, match="facebookresearch_dino_main"):
        get_distance("dreamsim")
    with pytest.raises(UnknownNameError, match="ensemble"):
        ra.create_model("dreamsim:dinov2_vitb14")
    with pytest.raises(ConfigError, match="no random initialisation"):
        ra.create_model("dreamsim:clip_vitb32", pretrained=False)


def test_missing_package(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dreamsim", None)
    with pytest.raises(MissingDependencyError, match=r"repalign\[dreamsim\]"):
        get_distance("dreamsim:open_clip_vitb32", cache_dir="/nonexistent")
    with pytest.raises(MissingDependencyError, match=r"repalign\[dreamsim\]"):
        ra.create_model("dreamsim:clip_vitb32")
