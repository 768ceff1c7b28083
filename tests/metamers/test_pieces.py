"""Every registry entry of the building blocks, against independent references."""

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from repalign.errors import ConfigError, ShapeError, UnknownNameError
from repalign.metamers import inits, objectives, optimizers, parametrizations, schedules, stopping
from repalign.metamers import transforms as T
from repalign.metamers._spec import spec_name
from repalign.specs import split_spec


def _img(seed=0, shape=(3, 3, 8, 8)):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


# -- specs -----------------------------------------------------------------------------------
def test_split_spec_forms():
    assert split_spec("blend:alpha=0.5,name=x") == ("blend", {"alpha": 0.5, "name": "x"})
    assert split_spec({"name": "cosine", "min_factor": 0.1}) == ("cosine", {"min_factor": 0.1})
    assert split_spec(("step", {"every": 3})) == ("step", {"every": 3})
    assert spec_name(("image", {"image": torch.zeros(2, 1, 3, 3)})) == "image:image=<Tensor(2, 1, 3, 3)>"
    assert spec_name("jitter:d=[1,2]") == "jitter:d=[1,2]"
    # 'blend:alpha' is a name (options start at 'key='): the registry names the close match
    with pytest.raises(UnknownNameError, match="Did you mean 'blend'"):
        inits.make_seeds("blend:alpha", _img())
    with pytest.raises(ConfigError, match="needs a 'name' key"):
        split_spec({"alpha": 1})


# -- objectives ------------------------------------------------------------------------------
def test_objectives_match_numpy():
    f, t = _img(1, (4, 2, 3, 3)), _img(2, (4, 2, 3, 3))
    fn, tn = f.flatten(1).numpy().astype(float), t.flatten(1).numpy().astype(float)
    ref = {
        "normalized_l2": np.linalg.norm(fn - tn, axis=1) / np.linalg.norm(tn, axis=1),
        "cosine": 1 - (fn * tn).sum(1) / np.linalg.norm(fn, axis=1) / np.linalg.norm(tn, axis=1),
        "mse": ((fn - tn) ** 2).mean(1),
    }
    assert sorted(ref) == objectives.list_objectives()
    for name, want in ref.items():
        np.testing.assert_allclose(objectives.get_objective(name)(f, t).numpy(), want, rtol=1e-5)


# -- parametrizations ------------------------------------------------------------------------
@pytest.mark.parametrize("name", parametrizations.PARAMETRIZATIONS.list())
def test_parametrization_round_trip_and_range(name):
    x0 = 0.05 + 0.9 * _img(3, (2, 3, 8, 7))
    p = parametrizations.get_parametrization(name)(x0)
    torch.testing.assert_close(p.image(), x0, atol=1e-5, rtol=0)
    assert p.image(torch.tensor([1])).shape == (1, 3, 8, 7)
    with torch.no_grad():
        for q in p.params:
            q.add_(50 * torch.randn_like(q))  # a wild step
        p.project()
    img = p.image()
    assert img.min() >= 0 and img.max() <= 1


def test_fourier_image_matches_numpy_lucid_formula():
    x0 = 0.1 + 0.8 * _img(4, (1, 3, 6, 6))
    p = parametrizations.FourierParam(x0)
    spec = torch.view_as_complex(p.params[0].detach()).numpy()[0].astype(np.complex128)
    fy = np.fft.fftfreq(6)[:, None]
    fx = np.fft.rfftfreq(6)[None, :]
    scale = 1 / np.maximum(np.sqrt(fx**2 + fy**2), 1 / 6)
    spatial = np.fft.irfft2(spec * scale, s=(6, 6), norm="ortho") / 4
    c = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
    c = c / np.linalg.norm(c, axis=0).max()
    ref = 1 / (1 + np.exp(-np.einsum("ij,jhw->ihw", c, spatial)))
    np.testing.assert_allclose(p.image().detach().numpy()[0], ref, atol=1e-5)
    xd = x0.double()
    pd = parametrizations.FourierParam(xd)
    assert torch.autograd.gradcheck(
        lambda q: pd.image.__func__(_with(pd, q)), (pd.params[0].detach().clone().requires_grad_(),),
        fast_mode=True,
    )


def _with(p, q):
    p.params = [q]
    return p


# -- transforms ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", T.TRANSFORMS.list())
def test_transforms_keep_shape_and_gradient(name):
    x = _img(5, (2, 1, 14, 14)).double().requires_grad_(True)
    pipe = T.build_transforms(name)
    out = pipe(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert torch.autograd.gradcheck(
        lambda v: pipe(v, torch.Generator().manual_seed(1)), (x,), fast_mode=True
    )


def test_transform_values():
    x = _img(6, (2, 1, 6, 6))
    gen = torch.Generator().manual_seed(0)
    torch.testing.assert_close(T.rotate([0.0])(x, gen), x, atol=1e-6, rtol=0)
    padded = T.pad(2, 0.5)(x, gen)
    assert padded.shape == (2, 1, 10, 10) and bool((padded[..., :2, :] == 0.5).all())
    crop = T.jitter(2)(x, gen)
    assert crop.shape == (2, 1, 4, 4)
    offsets = [(i, j) for i in range(3) for j in range(3) if torch.equal(crop, x[..., i:i + 4, j:j + 4])]
    assert len(offsets) == 1
    rot = T.rotate([90.0])(x, gen)  # 90 degrees on a square grid is an exact index permutation
    torch.testing.assert_close(rot, torch.rot90(x, k=1, dims=(-2, -1)), atol=1e-5, rtol=0)
    assert T.scale([2.0])(x, gen).shape == (2, 1, 12, 12)
    assert T.build_transforms(None) is None and T.build_transforms([]) is None
    assert T.build_transforms(["jitter:d=2", "rotate"])(x, gen).shape == x.shape


# -- inits -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", inits.list_inits())
def test_every_init(name):
    t = _img(7, (4, 3, 12, 12))
    spec = ("image", {"image": _img(8, (1, 3, 12, 12))}) if name == "image" else name
    if name == "other":
        spec = ("other", {"pool": _img(8, (5, 3, 12, 12))})
    s = inits.make_seeds(spec, t, seed=1)
    assert s.shape == t.shape and s.dtype == torch.float32
    assert s.min() >= 0 and s.max() <= 1
    torch.testing.assert_close(inits.make_seeds(spec, t, seed=1), s)  # deterministic


def test_init_values():
    t = torch.full((64, 1, 16, 16), 0.3)
    s = inits.make_seeds("noise", t, seed=0)
    assert s.mean().item() == pytest.approx(0.5, abs=2e-3)
    assert s.std().item() == pytest.approx(0.05, abs=2e-3)
    b = inits.make_seeds("blend:alpha=0.25", t, seed=0)
    torch.testing.assert_close(b, (0.25 * t + 0.75 * s).clamp(0, 1))
    assert bool((inits.make_seeds("white", t) == 1).all()) and bool((inits.make_seeds("black", t) == 0).all())
    x = _img(9, (2, 1, 16, 16))
    low = inits.make_seeds("lowpass:sigma=1.5", x)
    ref = np.stack([ndi.gaussian_filter(im[0], 1.5, mode="mirror", truncate=3.0) for im in x.numpy()])
    np.testing.assert_allclose(low[:, 0].numpy(), ref, atol=1e-5)


def test_other_init_picks_a_different_natural_image():
    t = _img(11, (6, 1, 8, 8))
    s = inits.make_seeds("other", t, seed=0)
    match = (s.flatten(1)[:, None] == t.flatten(1)[None]).all(-1)  # (seed, target) equal
    assert match.sum(1).tolist() == [1] * 6 and not match.diagonal().any()
    pool = torch.cat([t[:2], _img(12, (3, 1, 8, 8))])
    s = inits.make_seeds(("other", {"pool": pool}), t[:2], seed=0)
    assert not torch.equal(s[0], t[0]) and not torch.equal(s[1], t[1])
    with pytest.raises(ConfigError, match="another image that differs"):
        inits.make_seeds("other", t[:1])


def test_init_errors():
    t = _img(10, (2, 1, 8, 8))
    with pytest.raises(ConfigError, match="alpha=1 would start at the target"):
        inits.make_seeds("blend:alpha=1", t)
    with pytest.raises(ConfigError, match="equals the target for sample"):
        inits.make_seeds(("image", {"image": t}), t)
    with pytest.raises(ConfigError, match="needs the seed images"):
        inits.make_seeds("image", t)
    with pytest.raises(ShapeError, match="to match the targets"):
        inits.make_seeds(("image", {"image": _img(1, (3, 1, 8, 8))}), t)
    with pytest.raises(ConfigError, match="sigma > 0"):
        inits.make_seeds("lowpass:sigma=0", t)
    with pytest.raises(ConfigError, match="Bad options"):
        inits.make_seeds("noise:colour=1", t)
    with pytest.raises(UnknownNameError, match="Unknown init 'nois'"):
        inits.make_seeds("nois", t)


# -- optimizers ------------------------------------------------------------------------------
def test_normalized_gd_is_a_unit_step_per_sample():
    p = torch.zeros(3, 2, 2, requires_grad=True)
    g = torch.randn(3, 2, 2, generator=torch.Generator().manual_seed(0))
    g[2] = 0.0
    opt = optimizers.NormalizedGD([p], lr=0.5)
    p.grad = g.clone()
    opt.step()
    norms = g.flatten(1).norm(dim=1, keepdim=True)
    expected = torch.where(norms > 0, -0.5 * g.flatten(1) / norms.clamp_min(1e-30), 0.0)
    torch.testing.assert_close(p.detach().flatten(1), expected)


@pytest.mark.parametrize("name", optimizers.list_optimizers())
def test_optimizers_descend_and_keep_samples_independent(name):
    target = torch.tensor([[1.0, -2.0], [3.0, 0.5]])

    def run(rows):
        p = torch.zeros(len(rows), 2, requires_grad=True)
        opt = optimizers.get_optimizer(name)([p], lr=0.05)
        for _ in range(200):
            opt.zero_grad()
            ((p - target[rows]) ** 2).sum(1).sqrt().sum().backward()
            opt.step()
        return p.detach()

    both = run([0, 1])
    assert ((both - target).norm(dim=1) < 0.5 * target.norm(dim=1)).all()
    torch.testing.assert_close(run([1])[0], both[1])


# -- schedules -------------------------------------------------------------------------------
def test_schedule_values():
    feather = schedules.get_schedule("halving")(24000)
    assert [feather(s) for s in (0, 2999, 3000, 5999, 6000, 21000, 23999)] == [
        1, 1, 0.5, 0.5, 0.25, 1 / 128, 1 / 128,
    ]
    assert len({feather(s) for s in range(24000)}) == 8
    small = schedules.get_schedule("halving")(80, blocks=8)
    assert [small(s) for s in range(0, 80, 10)] == [0.5**k for k in range(8)]
    cos = schedules.get_schedule("cosine")(100, min_factor=0.1)
    assert cos(0) == 1 and cos(100) == pytest.approx(0.1) and cos(50) == pytest.approx(0.55)
    st = schedules.get_schedule("step")(90, gamma=0.5)
    assert [st(0), st(29), st(30), st(60)] == [1, 1, 0.5, 0.25]
    assert schedules.get_schedule("constant")(10)(9) == 1
    pl = schedules.get_schedule("plateau")(100, patience=2, factor=0.5)
    for loss in (1.0, 0.5, 0.5, 0.5):
        pl.observe(0, loss)
    assert pl(0) == 0.5 and pl.needs_loss
    with pytest.raises(ConfigError, match="plateau factor"):
        schedules.get_schedule("plateau")(10, factor=2)
    with pytest.raises(ConfigError, match="every >= 1"):
        schedules.get_schedule("halving")(10, every=0)
    assert math.isclose(sum(1 for s in range(100) if cos(s) > cos(s + 1)), 100)


# -- stopping rules --------------------------------------------------------------------------
def test_stopping_rules():
    d = torch.tensor([0.2, 0.001, 0.5])
    ok = torch.tensor([True, False, False])
    assert stopping.get_stop("fixed")(3)(1, dist=d).tolist() == [False] * 3
    assert stopping.get_stop("threshold")(3, tau=0.01)(1, dist=d).tolist() == [False, True, False]
    assert stopping.get_stop("criterion")(3)(1, dist=d, success=ok).tolist() == ok.tolist()
    rule = stopping.get_stop("plateau")(3, tol=1e-3, window=20)
    losses = [torch.tensor([1.0, 1.0, 1.0]), torch.tensor([0.5, 1.0, 0.9]),
              torch.tensor([0.4, 1.0, 0.8])]
    out = [rule(s, dist=d, loss=v, rows=None).tolist() for s, v in zip((10, 20, 30), losses, strict=True)]
    assert out[0] == [False] * 3  # nothing 20 steps back yet
    assert out[1] == [False] * 3 and out[2] == [False, True, False]  # step 30 vs step 10
    # with a shrunken active set the rule compares each sample with its own past
    assert rule(40, dist=d[1:], loss=torch.tensor([1.0, 0.8]), rows=torch.tensor([1, 2])).tolist() == [True, False]
    with pytest.raises(ConfigError, match="tau > 0"):
        stopping.get_stop("threshold")(3, tau=0)
