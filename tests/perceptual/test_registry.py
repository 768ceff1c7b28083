"""Every registered distance, the spec language and the input checks."""

from __future__ import annotations

import pytest
import torch

from repalign.errors import ConfigError, ShapeError, SpecError, UnknownNameError
from repalign.perceptual import (
    Distance,
    MeanDistance,
    distance,
    get_distance,
    list_distances,
    pairwise_distances,
)

# DreamSim needs weights on disk: swept in test_dreamsim.py on weights that test writes
SWEPT = [n for n in list_distances() if n != "model:SPEC@LAYER" and not n.startswith("dreamsim")]
CASES = [(n, 1) for n in SWEPT] + [(n, 3) for n in SWEPT if not n.startswith("lpips:")]


def _build(name, rand_lpips):
    # LPIPS at the native 32x32 (min_size=None) keeps the VGG trunk cheap in the sweep
    return rand_lpips(name, min_size=None) if name.startswith("lpips") else get_distance(name)


def test_registry_lists_every_family():
    names = list_distances()
    for name in ("pixel_l2", "ssim", "ms_ssim", "lpips", "lpips:alex", "lpips:vgg", "lpips:squeeze",
                 "lpips:alex_uncal", "lpips:vgg_uncal", "lpips:squeeze_uncal", "lpips:nanda",
                 "model:SPEC@LAYER"):
        assert name in names
    assert list_distances("lpips:*_uncal") == ["lpips:alex_uncal", "lpips:squeeze_uncal",
                                               "lpips:vgg_uncal"]


@pytest.mark.parametrize(("name", "channels"), CASES)
def test_every_entry_is_a_differentiable_distance(name, channels, rand_lpips):
    d = _build(name, rand_lpips)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, channels, 32, 32, generator=g)
    y = torch.rand(3, channels, 32, 32, generator=g)
    x.requires_grad_(True)
    out = d(x, y)
    assert isinstance(d, Distance)
    assert out.shape == (3,)
    assert torch.isfinite(out).all()
    # identity of indiscernibles (up to float error) and the other image is farther away
    same = d(y, y)
    assert torch.allclose(same, torch.zeros(3), atol=1e-5)
    assert (out > same).all()
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # pairwise (from embeddings computed once) = paired evaluation of every pair
    pw = d.pairwise(x.detach(), y)
    assert pw.shape == (3, 3)
    ref = d(x.detach().repeat_interleave(3, 0), y.repeat(3, 1, 1, 1)).reshape(3, 3)
    torch.testing.assert_close(pw, ref, rtol=1e-4, atol=1e-5)


def test_mean_spec_list_spec_and_components(pair):
    x, y = pair
    a, b = get_distance("ssim")(x, y), get_distance("pixel_l2")(x, y)
    for spec in ("mean(ssim, pixel_l2)", ["ssim", "pixel_l2"], "mean(ssim,mean(pixel_l2))"):
        d = get_distance(spec)
        assert isinstance(d, MeanDistance)
        if spec != "mean(ssim,mean(pixel_l2))":
            torch.testing.assert_close(d(x, y), (a + b) / 2)
        assert [c.name for c in d.components()] == ["ssim", "pixel_l2"]
    assert get_distance("ssim").components()[0].name == "ssim"


def test_nanda_is_the_mean_of_four_lpips_variants(pair, rand_lpips):
    x, y = pair
    d = rand_lpips("lpips:nanda", min_size=None)
    names = [c.name for c in d.components()]
    assert names == ["lpips:alex_rand", "lpips:vgg_rand", "lpips:alex_uncal_rand",
                     "lpips:vgg_uncal_rand"]
    parts = torch.stack([c(x, y) for c in d.components()])
    torch.testing.assert_close(d(x, y), parts.mean(0))


def test_options_reach_only_the_components_that_take_them(pair):
    x, _ = pair
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)  # SSIM > 0, so MS-SSIM's clipping is inactive
    d = get_distance("mean(ms_ssim, pixel_l2)", levels=1)
    torch.testing.assert_close(d.components()[0](x, y), get_distance("ssim")(x, y))
    with pytest.raises(ConfigError, match="not understood"):
        get_distance("pixel_l2", levels=2)


def test_string_specs_are_built_once():
    assert get_distance("ssim") is get_distance(" ssim ")
    assert get_distance("ms_ssim", levels=1) is not get_distance("ms_ssim")


def test_callables_and_distances_pass_through(pair):
    x, y = pair
    built = get_distance("pixel_l2")
    assert get_distance(built) is built

    def l1(a, b):
        return (a - b).abs().flatten(1).mean(1)

    d = get_distance(l1)
    torch.testing.assert_close(d(x, y), l1(x, y))
    assert d.name == "l1"
    with pytest.raises(ShapeError, match=r"must return an \(N,\) tensor"):
        get_distance(lambda a, b: (a - b).sum())(x, y)


def test_distance_and_pairwise_helpers(pair):
    x, y = pair
    torch.testing.assert_close(distance(x, y, "ssim", batch_size=2), get_distance("ssim")(x, y))
    full = pairwise_distances(x, None, "pixel_l2")
    assert full.shape == (3, 3)
    torch.testing.assert_close(full, full.T)
    assert torch.allclose(full.diagonal(), torch.zeros(3))
    ref = torch.cdist(x.flatten(1), x.flatten(1)) / (3 * 32 * 32) ** 0.5
    torch.testing.assert_close(full, ref, rtol=1e-4, atol=1e-5)
    rect = pairwise_distances(x, y[:2], "ssim", batch_size=4)
    assert rect.shape == (3, 2)


def test_unknown_names_and_malformed_specs():
    with pytest.raises(UnknownNameError, match=r"Unknown perceptual distance 'lpips:alx'.*Did you mean"):
        get_distance("lpips:alx")
    with pytest.raises(UnknownNameError, match="Valid perceptual distance names"):
        get_distance("psnr")
    with pytest.raises(SpecError, match=r"expected a name at character 11") as info:
        get_distance("mean(ssim,)")
    assert info.value.position == 10
    with pytest.raises(ConfigError, match="needs its distances in parentheses"):
        get_distance("mean")
    with pytest.raises(ConfigError, match="Only 'mean' takes parts"):
        get_distance("ssim(pixel_l2)")
    with pytest.raises(ConfigError, match="must not be empty"):
        get_distance([])
    with pytest.raises(ConfigError, match="must be a name"):
        get_distance(3)
    with pytest.raises(ConfigError, match="cannot be applied"):
        get_distance(get_distance("ssim"), levels=2)


def test_bad_images_raise_named_errors(pair):
    x, y = pair
    d = get_distance("pixel_l2")
    with pytest.raises(ShapeError, match="same shape"):
        d(x, y[:2])
    with pytest.raises(ShapeError, match="same shape"):
        d(x, y[:, :1])
    with pytest.raises(ShapeError, match=r"1 \(grey\) or 3 \(RGB\) channels"):
        d(x[:, :2], y[:, :2])
    with pytest.raises(ShapeError, match=r"must lie in \[0, 1\]"):
        d(x * 255, y)
    with pytest.raises(ShapeError, match="NaN or Inf"):
        d(x.clone().fill_(float("nan")), y)
    with pytest.raises(ShapeError, match=r"\(N, C, H, W\)"):
        d(x[0], y[0])
    with pytest.raises(ShapeError, match="share"):
        d.pairwise(x, y[:, :, :16])


def test_options_written_in_the_spec(pair):
    x, y = pair
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    torch.testing.assert_close(get_distance("ms_ssim:levels=1")(x, y), get_distance("ssim")(x, y))
    mixed = get_distance("mean(ms_ssim, pixel_l2):levels=1")
    torch.testing.assert_close(mixed.components()[0](x, y), get_distance("ssim")(x, y))
    assert get_distance("ms_ssim:levels=1") is get_distance("ms_ssim : levels = 1")
    with pytest.raises(ConfigError, match="given both in the spec"):
        get_distance("ms_ssim:levels=1", levels=2)
