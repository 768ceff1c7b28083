import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from repalign.errors import ConfigError, UnknownNameError
from repalign.metamers import regularizers as R
from repalign.metamers.terms import DIST, LossContext, Term, as_term, image_term


def _x(seed=0, shape=(2, 3, 5, 6)):
    g = torch.Generator().manual_seed(seed)
    return (0.1 + 0.8 * torch.rand(shape, generator=g, dtype=torch.float64)).requires_grad_(True)


def _sq(x, y):  # a differentiable stand-in for a perceptual distance
    return (x - y).pow(2).flatten(1).sum(1)


@pytest.mark.parametrize("name", R.list_regularizers(kind="image"))
def test_image_regularizers_pass_gradcheck(name):
    fn = R.REGULARIZERS.get(name)
    x = _x()
    if name == "range":  # put some values outside the allowed band so the penalty is active
        assert torch.autograd.gradcheck(lambda v: fn(v, lo=0.3, hi=0.7), (x,))
    elif name == "blur":  # the blurred copy is a stop-gradient constant: hold it fixed
        ref = R._blur3x3(x.detach())
        assert torch.autograd.gradcheck(lambda v: fn(v, reference=ref), (x,))
    else:
        assert torch.autograd.gradcheck(fn, (x,))
    assert fn(x).shape == (2,)


def test_total_variation_and_l1_match_loops():
    x = _x().detach().numpy()
    tv = [sum(((img[:, 1:, :] - img[:, :-1, :]) ** 2).ravel()) +
          sum(((img[:, :, 1:] - img[:, :, :-1]) ** 2).ravel()) for img in x]
    np.testing.assert_allclose(R.total_variation(torch.from_numpy(x)).numpy(), tv)
    np.testing.assert_allclose(R.l1_center(torch.from_numpy(x)).numpy(),
                               np.abs(x - 0.5).reshape(2, -1).sum(1))
    np.testing.assert_allclose(R.lp_norm(torch.from_numpy(x)).numpy(),
                               (np.abs(x) ** 6).reshape(2, -1).sum(1) ** (1 / 6))


def test_blur_matches_nandas_normalised_convolution_and_stops_gradient():
    """Nanda's blur: conv(x, k) / conv(1, k) with zero padding, so that every pixel is a weighted
    mean of the pixels inside the image (a constant image is its own blur)."""
    x = _x()
    k = np.full((3, 3), 0.5)
    k[1, 1] = 1.0
    xn = x.detach().numpy()
    weight = ndi.convolve(np.ones(xn.shape[-2:]), k, mode="constant")
    blurred = np.stack([np.stack([ndi.convolve(c, k, mode="constant") / weight for c in img])
                        for img in xn])
    ref = 0.5 * ((xn - blurred) ** 2).reshape(2, -1).sum(1)
    np.testing.assert_allclose(R.blur(x).detach().numpy(), ref)
    R.blur(x).sum().backward()  # gradient of 0.5||x - sg(b)||^2 is x - b
    np.testing.assert_allclose(x.grad.numpy(), xn - blurred)
    flat = torch.full((2, 3, 5, 6), 0.7, dtype=torch.float64)
    np.testing.assert_allclose(R.blur(flat).numpy(), 0.0, atol=1e-24)


def test_range_is_zero_inside_and_positive_outside():
    x = torch.tensor([[[[0.0, 0.5, 1.0]]]])
    assert R.range_penalty(x).item() == 0.0
    assert R.range_penalty(x, lo=0.2, hi=0.8).item() == pytest.approx(0.04 + 0.04)


def test_human_leaning_is_nandas_freq_formula():
    x = _x().detach()
    ctx = LossContext(x=x, dist=torch.tensor([0.3, 0.7], dtype=torch.float64))
    got = R.build_loss("human_leaning")(ctx)
    ref = (10 * ctx.dist + 5e-4 * R.total_variation(x) + 5e-4 * R.blur(x)
           + 5e-5 * R.l1_center(x))
    torch.testing.assert_close(got, ref)


def test_build_loss_forms():
    x = _x().detach()
    ctx = LossContext(x=x, dist=torch.tensor([1.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(R.build_loss("none")(ctx), ctx.dist)
    torch.testing.assert_close(R.build_loss("total_variation:weight=0.5")(ctx),
                               ctx.dist + 0.5 * R.total_variation(x))
    torch.testing.assert_close(R.build_loss({"l1_center": 2.0, "lp_norm": 1.0})(ctx),
                               ctx.dist + 2 * R.l1_center(x) + R.lp_norm(x))
    torch.testing.assert_close(R.build_loss("lp_norm:p=2,weight=1")(ctx),
                               ctx.dist + torch.linalg.vector_norm(x.flatten(1), dim=1))
    custom = 3 * DIST - image_term(R.l1_center) + 1
    assert isinstance(custom, Term) and R.build_loss(custom) is custom
    torch.testing.assert_close(custom(ctx), 3 * ctx.dist - R.l1_center(x) + 1)
    torch.testing.assert_close((-DIST)(ctx), -ctx.dist)
    torch.testing.assert_close(as_term(2)(ctx), torch.full((2,), 2.0, dtype=x.dtype))
    with pytest.raises(UnknownNameError, match="Did you mean 'total_variation'"):
        R.build_loss("total_variaton")
    with pytest.raises(ConfigError, match="is a loss preset"):
        R.build_loss({"human_leaning": 1.0})
    with pytest.raises(TypeError):
        DIST + "x"


def test_adversarial_auto_scale_makes_terms_equal_at_first_step():
    x, target = _x(1).detach(), _x(2).detach()
    loss = R.build_loss(("adversarial", {"distance": _sq}))
    ctx = LossContext(x=x, dist=torch.tensor([0.4, 0.9], dtype=torch.float64), target=target,
                      size=2)
    torch.testing.assert_close(loss(ctx), torch.zeros(2, dtype=torch.float64))
    s = ctx.state["adversarial_scale"].clone()
    torch.testing.assert_close(s, ctx.dist / _sq(x, target))
    # later steps keep the scale; with only row 1 active its entry is used
    ctx2 = LossContext(x=x[1:], dist=torch.tensor([0.1], dtype=torch.float64), target=target[1:],
                       rows=torch.tensor([1]), size=2, state=ctx.state)
    torch.testing.assert_close(loss(ctx2), 0.1 - s[1:] * _sq(x[1:], target[1:]))
    fixed = R.build_loss(("adversarial", {"distance": _sq, "scale": 10.0}))
    torch.testing.assert_close(fixed(ctx), ctx.dist - 10 * _sq(x, target))
    with pytest.raises(ConfigError, match="adversarial scale"):
        R.build_loss(("adversarial", {"distance": _sq, "scale": -1.0}))


@pytest.mark.parametrize("name", ["adversarial", "seed_anchored"])
def test_perceptual_presets_pass_gradcheck(name):
    target, seed = _x(3).detach(), _x(4).detach()
    loss = R.build_loss((name, {"distance": _sq, **({"scale": 2.0} if name == "adversarial" else {})}))

    def f(x):
        ctx = LossContext(x=x, dist=x.flatten(1).mean(1), target=target, seed=seed, size=2)
        return loss(ctx)

    assert torch.autograd.gradcheck(f, (_x(5),))


def test_presets_use_the_perceptual_registry(monkeypatch):
    import repalign.perceptual as P
    from repalign.errors import WeightsUnavailableError

    target, seed = _x(6, (2, 1, 16, 16)).detach(), _x(7, (2, 1, 16, 16)).detach()
    loss = R.build_loss("seed_anchored:distance=pixel_l2")

    def f(x):
        return loss(LossContext(x=x, dist=x.flatten(1).mean(1), target=target, seed=seed, size=2))

    assert torch.autograd.gradcheck(f, (_x(8, (2, 1, 16, 16)),), fast_mode=True)
    adv = R.build_loss("adversarial:distance=ssim")
    ctx = LossContext(x=_x(9, (2, 1, 16, 16)).detach(), dist=torch.ones(2, dtype=torch.float64),
                      target=target, size=2)
    torch.testing.assert_close(adv(ctx), torch.zeros(2, dtype=torch.float64), atol=1e-6, rtol=0)
    real = P.get_distance

    def no_lpips(spec, *a, **k):
        if str(spec).startswith("lpips"):
            raise WeightsUnavailableError("no trunk weights here")
        return real(spec, *a, **k)

    monkeypatch.setattr(P, "get_distance", no_lpips)
    with pytest.warns(UserWarning, match="uses 'ssim' instead"):
        fallback = R.resolve_perceptual("auto")
    torch.testing.assert_close(fallback(target, seed), real("ssim")(target, seed))


@pytest.mark.parametrize("name", ["adversarial", "seed_anchored"])
def test_string_spec_with_a_model_distance_names_the_distance(name, monkeypatch):
    """A distance spec that itself contains colons (model:SOURCE:NAME@LAYER) is built and named."""
    import repalign.perceptual as P

    built = P.get_distance("pixel_l2")
    monkeypatch.setattr(P, "get_distance", lambda spec: built if spec == "model:zoo:x@flatten" else None)
    loss = R.build_loss(f"{name}:distance=model:zoo:x@flatten")
    assert "pixel_l2" in loss.name
