"""SSIM and MS-SSIM against scikit-image and an independent NumPy/SciPy computation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import pytorch_msssim
import torch
from scipy.ndimage import gaussian_filter

from repalign.errors import ConfigError, ShapeError
from repalign.perceptual import MSSSIM, SSIM, get_distance
from repalign.perceptual.structural import ms_ssim_levels, window_size

C1, C2 = 0.01**2, 0.03**2


def _similar_pair(n=2, c=1, side=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, side, side, generator=g)
    y = (x + 0.08 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_scikit_image(channels):
    metrics = pytest.importorskip("skimage.metrics",
                                  reason="the photos extra (scikit-image) is not installed")
    x, y = _similar_pair(c=channels)
    ours = SSIM()(x, y)
    for i in range(2):
        ref = metrics.structural_similarity(
            x[i].numpy(), y[i].numpy(), data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, channel_axis=0,
        )
        assert float(ours[i]) == pytest.approx(1.0 - ref, abs=1e-5)


def _stats(a, b):
    """Gaussian-window SSIM and contrast-structure maps, interior only (SciPy, float64)."""

    def f(v):
        return gaussian_filter(v, sigma=1.5, truncate=3.5)[5:-5, 5:-5]

    mu_a, mu_b = f(a), f(b)
    saa, sbb, sab = f(a * a) - mu_a**2, f(b * b) - mu_b**2, f(a * b) - mu_a * mu_b
    cs = (2 * sab + C2) / (saa + sbb + C2)
    lum = (2 * mu_a * mu_b + C1) / (mu_a**2 + mu_b**2 + C1)
    return (lum * cs).mean(), cs.mean()


def test_two_scale_ms_ssim_on_32px_images_by_hand():
    x, y = _similar_pair(n=1, side=32, seed=3)
    a, b = x[0, 0].double().numpy(), y[0, 0].double().numpy()
    _, cs1 = _stats(a, b)
    a2, b2 = a.reshape(16, 2, 16, 2).mean((1, 3)), b.reshape(16, 2, 16, 2).mean((1, 3))
    ssim2, _ = _stats(a2, b2)
    w = np.array([0.0448, 0.2856])
    w = w / w.sum()
    ref = 1.0 - cs1 ** w[0] * ssim2 ** w[1]
    assert float(MSSSIM()(x.double(), y.double())[0]) == pytest.approx(ref, abs=1e-6)  # float32 window


@pytest.mark.parametrize("channels", [1, 3])
def test_five_scales_equal_pytorch_msssim(channels):
    x, y = _similar_pair(n=2, c=channels, side=168, seed=4)
    ref = 1.0 - pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False)
    ours = MSSSIM()(x, y)
    torch.testing.assert_close(ours, ref, rtol=0, atol=2e-7)  # float32 rounding only
    torch.testing.assert_close(get_distance("ms_ssim", levels=5)(x, y), ref, rtol=0, atol=2e-7)
    # the check can fail: renormalised weights (sum 1 instead of 1.0001) move the value by ~4e-6
    w = torch.tensor([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    renorm = 1.0 - pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False,
                                          weights=(w / w.sum()).tolist())
    assert float((renorm - ref).abs().max()) > 1e-6


def test_pytorch_msssim_internals_are_as_expected():
    """structural.py calls two private helpers; the dependency is bounded (<1.1) and this test
    fails if an allowed version changes them."""
    import inspect
    from importlib.metadata import version

    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    major_minor = tuple(int(p) for p in version("pytorch-msssim").split(".")[:2])
    assert major_minor < (1, 1), "raise the bound in pyproject.toml only after checking structural.py"
    assert list(inspect.signature(_fspecial_gauss_1d).parameters)[:2] == ["size", "sigma"]
    assert list(inspect.signature(_ssim).parameters)[:5] == ["X", "Y", "data_range", "win",
                                                               "size_average"]
    x, y = _similar_pair(n=2, c=3, side=32, seed=7)
    win = _fspecial_gauss_1d(11, 1.5).repeat(3, 1, 1, 1)
    ssim_c, cs_c = _ssim(x, y, data_range=1.0, win=win, size_average=False)
    assert ssim_c.shape == cs_c.shape == (2, 3)  # per image and channel
    public = pytorch_msssim.ssim(x, y, data_range=1.0, size_average=False)
    torch.testing.assert_close(ssim_c.mean(1), public, rtol=0, atol=1e-7)


def test_scale_and_window_rules_for_small_images():
    assert [ms_ssim_levels(s) for s in (16, 21, 22, 28, 32, 64, 160, 161, 512)] == [
        1, 2, 2, 2, 2, 3, 4, 5, 5]
    assert [window_size(s) for s in (4, 7, 8, 11, 32)] == [3, 7, 7, 11, 11]
    x, y = _similar_pair(n=2, side=16)
    torch.testing.assert_close(MSSSIM()(x, y), SSIM()(x, y))  # one scale = SSIM (when positive)
    tiny_x, tiny_y = _similar_pair(n=1, side=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the window shrinks to 7: no smoothing step is skipped
        SSIM()(tiny_x, tiny_y)
    with pytest.raises(ShapeError, match="use levels=2"):
        MSSSIM(levels=3)(*_similar_pair(side=32))
    with pytest.raises(ConfigError, match="odd"):
        SSIM(win_size=4)
    with pytest.raises(ConfigError, match="between 1 and 5"):
        MSSSIM(levels=6)


def test_gradients_are_finite_where_ms_ssim_clips():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(2, 1, 32, 32, generator=g, requires_grad=True)
    y = torch.rand(2, 1, 32, 32, generator=g)
    out = MSSSIM()(x, y)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    xs = x.detach().clone().requires_grad_(True)
    MSSSIM()(xs, xs.detach()).sum().backward()
    assert torch.isfinite(xs.grad).all()


@pytest.mark.parametrize("name", ["ssim", "ms_ssim", "pixel_l2"])
def test_gradcheck(name):
    g = torch.Generator().manual_seed(6)
    a = (0.1 + 0.8 * torch.rand(1, 1, 8, 8, generator=g)).double().requires_grad_(True)
    b = (a.detach() + 0.05 * torch.randn(a.shape, generator=g, dtype=torch.float64)).clamp(0.05, 0.95)
    d = get_distance(name)
    assert torch.autograd.gradcheck(lambda t: d(t, b), (a,), eps=1e-6, atol=1e-5)
