"""LPIPS: agreement with the lpips package's own forward, offline trunk loading and its errors."""

from __future__ import annotations

import sys
import warnings

import pytest
import torch
import torchvision

from repalign.errors import (
    DataFormatError,
    MissingDependencyError,
    ShapeError,
    WeightsUnavailableError,
)
from repalign.perceptual import LPIPS, get_distance, trunk_file

# the lpips package passes torchvision's deprecated ``pretrained=`` argument
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated since 0.13:UserWarning")

try:  # the module collects without the lpips extra; the tests that need it skip
    import lpips
except ImportError:
    lpips = None
needs_lpips = pytest.mark.skipif(
    lpips is None, reason="the lpips extra is not installed (pip install 'repalign[lpips]')"
)


def _quiet(*args, **kwargs) -> LPIPS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return LPIPS(*args, **kwargs)


@needs_lpips
@pytest.mark.parametrize("calibrated", [True, False])
def test_matches_the_package_forward(calibrated):
    d = _quiet("alex", calibrated=calibrated, pnet_rand=True)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(4, 3, 64, 64, generator=g), torch.rand(4, 3, 64, 64, generator=g)
    ours = d(x, y)
    ref = d.lp(x, y, normalize=True).flatten()  # the package's own computation
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    if calibrated:  # the shipped linear heads are loaded (non-negative, not a random init)
        heads = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).lins[0].model[-1].weight
        torch.testing.assert_close(d.lp.lins[0].model[-1].weight, heads)


@needs_lpips
def test_grey_is_repeated_and_small_images_are_upsampled():
    d = _quiet("alex", pnet_rand=True)
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 1, 32, 32, generator=g), torch.rand(2, 1, 32, 32, generator=g)
    up = torch.nn.functional.interpolate
    big_x = up(x.expand(-1, 3, -1, -1), size=(64, 64), mode="bilinear", align_corners=False)
    big_y = up(y.expand(-1, 3, -1, -1), size=(64, 64), mode="bilinear", align_corners=False)
    torch.testing.assert_close(d(x, y), d.lp(big_x, big_y, normalize=True).flatten())
    small = _quiet("alex", pnet_rand=True, min_size=None)
    with pytest.raises(ShapeError, match="too small for the alex trunk"):
        small(x[..., :16, :16], y[..., :16, :16])


@needs_lpips
def test_random_trunk_warns():
    with pytest.warns(UserWarning, match="tests only"):
        d = LPIPS("squeeze", pnet_rand=True)
    assert d.name == "lpips:squeeze_rand"


def _save_squeeze(path):
    torch.manual_seed(3)
    net = torchvision.models.squeezenet1_1(weights=None)
    torch.save(net.state_dict(), path)
    return net


@needs_lpips
def test_trunk_from_a_given_path_and_from_the_hub_cache(tmp_path, monkeypatch):
    name = "squeezenet1_1-b8a52dc0.pth"
    ref_net = _save_squeeze(tmp_path / name)
    d = LPIPS("squeeze", trunk_path=tmp_path / name, min_size=None)
    first_conv = d.lp.net.slice1[0].weight
    torch.testing.assert_close(first_conv, ref_net.features[0].weight)
    # a folder holding the file works too, and so does the torch hub cache
    last = dict(LPIPS("squeeze", trunk_path=tmp_path).lp.net.slice7.named_children())["12"]
    assert torch.equal(last.expand3x3.weight, ref_net.features[12].expand3x3.weight)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = trunk_file("squeeze")
    assert cache == tmp_path / "torch" / "hub" / "checkpoints" / name
    cache.parent.mkdir(parents=True)
    (tmp_path / name).rename(cache)
    from_cache = get_distance("lpips:squeeze", min_size=None)
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(2, 3, 48, 48, generator=g), torch.rand(2, 3, 48, 48, generator=g)
    torch.testing.assert_close(from_cache(x, y), d(x, y))
    # the package built with the same ImageNet-style trunk gives the same number
    pkg = lpips.LPIPS(net="squeeze", pnet_rand=True, verbose=False)
    for k in range(1, 8):
        for idx, mod in getattr(pkg.net, f"slice{k}").named_children():
            mod.load_state_dict(ref_net.features[int(idx)].state_dict())
    torch.testing.assert_close(d(x, y), pkg(x, y, normalize=True).flatten(), rtol=1e-5, atol=1e-6)


@needs_lpips
def test_alex_trunk_needs_only_the_features(tmp_path):
    torch.manual_seed(4)
    net = torchvision.models.alexnet(weights=None)
    feats = {k: v for k, v in net.state_dict().items() if k.startswith("features.")}
    torch.save(feats, tmp_path / "alexnet-owt-7be5be79.pth")
    d = LPIPS("alex", trunk_path=tmp_path)
    conv5 = dict(d.lp.net.slice5.named_children())["10"]
    torch.testing.assert_close(conv5.weight, net.features[10].weight)


@needs_lpips
def test_offline_without_weights_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = str(tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth")
    with pytest.raises(WeightsUnavailableError, match="never downloads") as info:
        get_distance("lpips")
    assert expected in str(info.value)
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(WeightsUnavailableError, match=r"vgg16-397923af\.pth"):
        get_distance("lpips:vgg_uncal")
    with pytest.raises(WeightsUnavailableError, match="pass its path as trunk_path"):
        LPIPS("vgg", trunk_path=tmp_path / "nowhere.pth")


@needs_lpips
def test_wrong_or_corrupt_trunk_files(tmp_path):
    _save_squeeze(tmp_path / "squeeze.pth")
    with pytest.raises(DataFormatError, match="not the expected torchvision checkpoint"):
        LPIPS("alex", trunk_path=tmp_path / "squeeze.pth")
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(DataFormatError, match="Could not read"):
        LPIPS("alex", trunk_path=tmp_path / "bad.pth")


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)
    with pytest.raises(MissingDependencyError, match=r"repalign\[lpips\]"):
        LPIPS("alex", pnet_rand=True)
