"""generate_metamers end to end on small models: behaviour, bookkeeping, presets, bad input."""

import numpy as np
import pytest
import scipy.stats as ss
import torch

import repalign as ra
from repalign.errors import ConfigError, ShapeError, UnknownNameError
from repalign.metamers import MetamerResult
from repalign.metamers.optimizers import NormalizedGD
from repalign.metamers.presets import get_preset, list_presets


def _gen(model, images, **kw):
    kw.setdefault("quiet", True)
    return ra.generate_metamers(model, images, **kw)


class Recorder:
    """An optimizer factory that records the learning rate and the parameters at every step."""

    def __init__(self, inner=NormalizedGD):
        self.inner, self.lrs, self.before, self.grads = inner, [], [], []

    def __call__(self, params, lr, **kw):
        opt = self.inner(params, lr=lr, **kw)
        self.param = opt.param_groups[0]["params"][0]  # holds the last iterate after the run
        step = opt.step

        def counted(*a, **k):
            self.lrs.append(opt.param_groups[0]["lr"])
            self.before.append(opt.param_groups[0]["params"][0].detach().clone())
            self.grads.append(opt.param_groups[0]["params"][0].grad.detach().clone())
            return step(*a, **k)

        opt.step = counted
        return opt


def test_loss_decreases_and_result_is_filled(tiny_cnn, images, null):
    res = _gen(tiny_cnn, images[:4], layers=["3", "1+4"], steps=60, stop="fixed",
               null_stimuli=null, history_every=5)
    assert isinstance(res, MetamerResult) and len(res) == 8
    loss = res.history["loss"]
    assert loss.shape == (12, 8) and (loss[-1] < 0.6 * loss[0]).all()
    assert res.layers == ["3"] * 4 + ["1+4"] * 4
    assert res.generators == ["test:tiny_cnn_s0"] * 8
    assert res.target_ids[:4] == [f"target/{i:04d}" for i in range(4)]
    assert (res.target_labels == -1).all() and res.inits == ["other"] * 8
    # the default start is another natural image: one of the null stimuli, never the target
    for seed in res.seeds:
        assert (seed.flatten() == null.flatten(1)).all(1).sum() == 1
    torch.testing.assert_close(res.targets, images[:4].repeat(2, 1, 1, 1))
    # the same starting noise for every layer of an image (Feather)
    torch.testing.assert_close(res.seeds[:4], res.seeds[4:])
    assert res.config["steps_run"] == [60] and res.config["preset"] == "fast"
    assert set(res.config["thresholds"]) == {f"test:tiny_cnn_s0@{k}" for k in ("1", "3", "4")}
    # 8-bit images; final distance and success re-measured on them
    assert torch.equal(res.images, torch.round(res.images * 255) / 255)
    # "1+4" matches both layers at once: its distance is the mean of the two layers' distances
    t4 = res.targets[4:]
    two = (_distances(tiny_cnn, "1", res.images[4:], t4) + _distances(tiny_cnn, "4", res.images[4:], t4)) / 2
    np.testing.assert_allclose(res.final_distance[4:], two, rtol=1e-4)
    np.testing.assert_allclose(res.final_distance[:4], _distances(tiny_cnn, "3", res.images[:4],
                                                                  res.targets[:4]), rtol=1e-4)


def test_success_matches_independent_recheck(tiny_cnn, images, null):
    """Recompute the criterion with scipy on the returned 8-bit images."""
    res = _gen(tiny_cnn, images, layers="3", steps=40, null_stimuli=null, stop="fixed")
    with torch.no_grad():
        nf = tiny_cnn.features(null, ["3"])["3"].flatten(1).numpy()
        mf = tiny_cnn.features(res.images, ["3"])["3"].flatten(1).numpy()
        tf = tiny_cnn.features(res.targets, ["3"])["3"].flatten(1).numpy()
    thr = max(ss.spearmanr(nf[i], nf[j])[0] for i in range(30) for j in range(i + 1, 30))
    rho = np.array([ss.spearmanr(a, b)[0] for a, b in zip(mf, tf, strict=True)])
    np.testing.assert_array_equal(res.success, rho > thr)
    dist = np.linalg.norm(mf - tf, axis=1) / np.linalg.norm(tf, axis=1)
    np.testing.assert_allclose(res.final_distance, dist, rtol=1e-4)
    assert res.config["thresholds"]["test:tiny_cnn_s0@3"] == pytest.approx(thr, abs=1e-6)


def test_invertible_layer_reaches_near_zero_distance(invertible_model):
    g = torch.Generator().manual_seed(0)
    targets = 0.1 + 0.8 * torch.rand(3, 3, 8, 8, generator=g)
    for opt, lr in (("adam", 0.02), ("normalized_gd", 0.5)):
        res = _gen(invertible_model, targets, layers="mix", optimizer=opt, lr=lr, steps=400,
                   schedule="cosine", stop="fixed", quantize=False, null_stimuli=torch.rand(20, 3, 8, 8))
        assert res.final_distance.max() < 2e-3, (opt, res.final_distance)
        torch.testing.assert_close(res.images, targets, atol=2e-3, rtol=0)


def test_frozen_samples_no_longer_change(tiny_cnn, images):
    g = torch.Generator().manual_seed(0)
    close_null = 0.7 * torch.rand(1, 3, 16, 16, generator=g) + 0.3 * torch.rand(30, 3, 16, 16, generator=g)
    rec = Recorder(torch.optim.Adam)
    res = _gen(tiny_cnn, images, layers=["1", "4"], optimizer=rec, lr=0.005, steps=300,
               check_every=10, stop="criterion", null_stimuli=close_null, quantize=False)
    steps = res.steps_to_success
    assert (steps > 0).all() and len(set(steps)) > 1  # samples freeze at different checks
    assert all(s % 10 == 0 for s in steps)
    # a check judges the image after s updates; the loop stops after the update of that step
    assert len(rec.before) == max(steps) + 1 == res.config["steps_run"][0]
    early = [(i, s) for i, s in enumerate(steps) if s < max(steps)]
    assert early
    for i, s in early:
        after = torch.stack([p[i] for p in rec.before[s:]])
        assert torch.equal(after, after[:1].expand_as(after)), f"sample {i} moved after step {s}"
        assert not torch.equal(rec.before[s - 1][i], rec.before[s - 2][i])  # it moved before
        assert torch.equal(res.images[i], rec.before[-1][i])
    assert res.success.all()


def test_screened_checks_agree_with_full_checks(tiny_cnn, images):
    """Checks screen on the step's activations; a rule that is a plain callable gets the full
    check on every 8-bit image. Both find every metamer; screening may only be one check late."""
    g = torch.Generator().manual_seed(0)
    close_null = 0.7 * torch.rand(1, 3, 16, 16, generator=g) + 0.3 * torch.rand(30, 3, 16, 16, generator=g)
    kw = {"layers": ["1", "4"], "lr": 0.005, "steps": 300, "check_every": 10,
          "null_stimuli": close_null}
    screened = _gen(tiny_cnn, images, stop="criterion", **kw)
    full = _gen(tiny_cnn, images, stop=lambda size: (lambda step, dist, success, **_: success), **kw)
    assert screened.success.all() and full.success.all()
    diff = screened.steps_to_success - full.steps_to_success
    assert (diff % 10 == 0).all() and (diff >= 0).all() and (diff == 0).mean() > 0.8


def test_feather_preset_takes_the_published_steps_scaled_down(tiny_cnn, images, null):
    full = get_preset("feather")
    assert (full["steps"], full["lr"], full["optimizer"], full["keep"], full["init"]) == (
        24000, 1.0, "normalized_gd", "last", "noise")
    rec = Recorder()
    res = _gen(tiny_cnn, images[:2], layers="3", preset="feather", steps=80, optimizer=rec,
               check_every=20, null_stimuli=null)
    assert len(rec.lrs) == 80 and res.config["steps_run"] == [80]
    assert rec.lrs == [0.5**k for k in range(8) for _ in range(10)]
    assert res.optimizers == ["Recorder"] * 2 and res.config["schedule"] == "halving:blocks=8"
    # every update is x <- clamp(x - s g / ||g||, 0, 1), g the gradient of Feather's distance
    # recomputed here with autograd; the start is the seed and the last iterate is kept
    with torch.no_grad():
        t = tiny_cnn.features(images[:2], ["3"])["3"].flatten(1)
    iterates = [*rec.before, rec.param.detach()]
    for k in range(80):
        x = iterates[k].clone().requires_grad_(True)
        f = tiny_cnn.features(x, ["3"])["3"].flatten(1)
        ((f - t).norm(dim=1) / t.norm(dim=1)).sum().backward()
        g = x.grad
        torch.testing.assert_close(rec.grads[k], g, atol=1e-6, rtol=1e-4)
        norm = g.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        want = (iterates[k] - rec.lrs[k] * g / norm).clamp(0, 1)
        torch.testing.assert_close(iterates[k + 1], want, atol=1e-5, rtol=0)
    torch.testing.assert_close(res.seeds, iterates[0])
    torch.testing.assert_close(res.images, torch.round(iterates[-1] * 255) / 255, atol=1e-6, rtol=0)


def _distances(model, layer, images, targets):
    """Feather's normalised distance at ``layer``, recomputed outside the loop: (N,) numpy."""
    with torch.no_grad():
        f = model.features(images, [layer])[layer].flatten(1).double().numpy()
        t = model.features(targets, [layer])[layer].flatten(1).double().numpy()
    return np.linalg.norm(f - t, axis=1) / np.linalg.norm(t, axis=1)


@pytest.mark.parametrize("lr", [3.0, 0.05])
def test_nanda_preset_keeps_the_best_iterate(tiny_cnn, images, null, lr):
    """The best of every iterate x_0 .. x_T, the last one included (robustness's use_best)."""
    full = get_preset("nanda")
    assert (full["steps"], full["lr"], full["schedule"], full["keep"], full["init"]) == (
        5000, 1.0, "constant", "best", "gaussian")
    rec = Recorder()
    targets = images[:3]
    res = _gen(tiny_cnn, targets, layers="3", preset="nanda", steps=30, lr=lr,
               optimizer=rec, null_stimuli=null, quantize=False)
    assert rec.lrs == [lr] * 30
    # every iterate: the images before each of the 30 updates, and the one after the last
    iterates = torch.stack([*rec.before, rec.param.detach().clone()])  # (31, n, C, H, W)
    dist = np.stack([_distances(tiny_cnn, "3", x, targets) for x in iterates])  # (31, n)
    best = dist.argmin(0)
    if lr == 3.0:
        assert (best < 30).any()  # large steps overshoot: the best is not always the last
    else:
        assert (best == 30).all()  # small steps descend: the best is the last iterate
    torch.testing.assert_close(res.images, iterates[best, np.arange(3)], atol=1e-6, rtol=0)
    np.testing.assert_allclose(res.final_distance, dist.min(0), rtol=1e-5)
    assert list_presets() == ["fast", "feather", "nanda"]


def test_batches_do_not_change_results(tiny_cnn, images, null):
    kw = {"layers": ["1", "4"], "steps": 30, "stop": "fixed", "null_stimuli": null}
    one = _gen(tiny_cnn, images, batch_size=12, **kw)
    small = _gen(tiny_cnn, images, batch_size=5, **kw)
    torch.testing.assert_close(one.images, small.images, atol=1 / 255 + 1e-6, rtol=0)
    assert (one.images != small.images).float().mean() < 0.01
    np.testing.assert_allclose(one.history["loss"], small.history["loss"], rtol=1e-4)


def test_one_forward_per_step_stops_at_the_deepest_layer(tiny_cnn, images, null):
    for layer in ("1", "3", "4"):  # the criterion's nulls, cached before counting
        ra.metamers.null_distribution(tiny_cnn, layer, null)
    tiny_cnn.layer_calls(images)  # the one full probe forward that counts layer calls
    calls = {"features": 0, "head": 0}
    real = tiny_cnn.features

    def counting(*a, **k):
        calls["features"] += 1
        return real(*a, **k)

    tiny_cnn.features = counting
    handle = tiny_cnn.network[7].register_forward_hook(lambda *a: calls.__setitem__("head", calls["head"] + 1))
    try:
        _gen(tiny_cnn, images, layers=["1", "3+4"], steps=20, check_every=10, stop="fixed",
             null_stimuli=null)
    finally:
        handle.remove()
        del tiny_cnn.features
    # 1 target pass + 20 steps + the final re-check, and at each of the 2 checks at most one
    # confirming pass on the rows whose step activations already pass; the head never runs
    assert 1 + 20 + 1 <= calls["features"] <= 1 + 20 + 2 + 1
    assert calls["head"] == 0


def test_joint_generation_and_separate_generators(cnn_pair, images, null):
    a, b = cnn_pair
    res = _gen([[a, b], a, b], images[:2], layers="4", steps=20, stop="fixed", null_stimuli=null)
    assert res.generators == ["test:tiny_cnn_s0+test:tiny_cnn_s1"] * 2 + ["test:tiny_cnn_s0"] * 2 + [
        "test:tiny_cnn_s1"] * 2
    with torch.no_grad():
        def d(m, x, t):
            f, g = m.features(x, ["4"])["4"].flatten(1), m.features(t, ["4"])["4"].flatten(1)
            return ((f - g).norm(dim=1) / g.norm(dim=1)).numpy()

        joint = res.images[:2]
        mean = (d(a, joint, images[:2]) + d(b, joint, images[:2])) / 2
    np.testing.assert_allclose(res.final_distance[:2], mean, rtol=1e-4)
    res_max = _gen([[a, b]], images[:2], layers="4", steps=5, stop="fixed", combine="max",
                   model_weights=[1.0, 2.0], null_stimuli=null)
    with torch.no_grad():
        ref = np.maximum(d(a, res_max.images, images[:2]), 2 * d(b, res_max.images, images[:2]))
    np.testing.assert_allclose(res_max.final_distance, ref, rtol=1e-4)
    with pytest.raises(ConfigError, match="one positive weight per distinct model"):
        _gen([[a, b]], images[:2], layers="4", model_weights=[1.0], null_stimuli=null)


def test_layers_from_mapping_and_defaults(cnn_pair, images, null):
    a, b = cnn_pair
    res = _gen([[a, b]], images[:2], layers=[{"test:tiny_cnn_s0": "1", 1: "3+4"}], steps=3,
               null_stimuli=null)
    assert res.layers == ["1+3+4"] * 2
    a.meta["default_layers"] = ["1", "4"]
    res = _gen(a, images[:2], steps=3, null_stimuli=null)
    assert res.layers == ["1", "1", "4", "4"]
    with pytest.raises(ConfigError, match="names no layer for model"):
        _gen([[a, b]], images[:2], layers=[{"test:tiny_cnn_s0": "1"}], null_stimuli=null)


_SWEEP = [
    {"init": "gaussian"}, {"init": "light_noise"}, {"init": "uniform"}, {"init": "white"},
    {"init": "black"}, {"init": "lowpass"}, {"init": "blend:alpha=0.3"}, {"init": "noise"},
    {"init": ("image", {"image": torch.full((1, 3, 16, 16), 0.3)})},
    {"regularizer": "human_leaning"}, {"regularizer": "range:lo=0.1,hi=0.9"},
    {"regularizer": {"total_variation": 1e-3, "lp_norm": 1e-3}},
    {"regularizer": "blur:weight=1e-3"}, {"regularizer": "l1_center"},
    {"regularizer": "adversarial:distance=ssim"}, {"regularizer": "seed_anchored:distance=ssim"},
    {"parametrization": "sigmoid"}, {"parametrization": "fourier", "lr": 0.05},
    {"transforms": "robust_small"}, {"transforms": "robust"},
    {"transforms": ["pad:width=2", "rotate", "scale", "jitter:d=2"]},
    {"optimizer": "sgd", "lr": 0.5}, {"optimizer": "sgd_momentum", "lr": 0.2},
    {"optimizer": "normalized_gd", "lr": 0.5},
    {"schedule": "halving"}, {"schedule": "step"}, {"schedule": "plateau"},
    {"schedule": "constant"}, {"stop": "threshold:tau=0.5"}, {"stop": "plateau:window=5"},
    {"stop": "fixed"}, {"objective": "cosine"}, {"objective": "mse", "lr": 0.05}, {"keep": "best"},
    {"statistic": "pearson", "quantile": 0.9, "null_pairs": 100},
    {"same_label": True}, {"repeats": 2},
]


def test_sweep_covers_every_registry_entry():
    """Each registered name is swept below or is the default preset's choice."""
    from repalign.metamers import (
        inits,
        objectives,
        optimizers,
        parametrizations,
        regularizers,
        schedules,
        stopping,
        transforms,
    )

    registries = {
        "init": inits.INITS, "regularizer": regularizers.REGULARIZERS,
        "parametrization": parametrizations.PARAMETRIZATIONS, "transforms": transforms.TRANSFORMS,
        "optimizer": optimizers.OPTIMIZERS, "schedule": schedules.SCHEDULES, "stop": stopping.STOPS,
        "objective": objectives.OBJECTIVES,
    }
    fast = get_preset("fast")
    for key, registry in registries.items():
        used = {str(fast.get(key))}
        for option in _SWEEP:
            value = option.get(key)
            specs = value if isinstance(value, (list, dict)) else [value]
            used |= {str(v[0] if isinstance(v, tuple) else v).partition(":")[0] for v in specs}
        missing = set(registry.list()) - used
        assert not missing, (key, missing)


@pytest.mark.parametrize("option", _SWEEP, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())[:40])
def test_registry_sweep_through_generation(tiny_cnn, images, null, option):
    res = _gen(tiny_cnn, images[:3], layers="3", steps=25, check_every=5, null_stimuli=null, **option)
    assert len(res) == 3 * option.get("repeats", 1)
    assert np.isfinite(res.final_distance).all() and res.images.min() >= 0 and res.images.max() <= 1
    hist = res.history["loss"]
    if "transforms" not in option and option.get("regularizer") is None and option.get("init") not in (
        "white", "black"
    ):
        assert (hist[-1] < hist[0]).mean() > 0.5, option


def test_perceptual_regularizers_run(tiny_cnn, images, null):
    def sq(x, y):
        return (x - y).pow(2).flatten(1).mean(1)

    res = _gen(tiny_cnn, images[:3], layers="3", steps=15, null_stimuli=null, stop="fixed",
               regularizer=("adversarial", {"distance": sq}))
    assert res.config["loss"].startswith("dist - s*") and res.regularizers[0].startswith("adversarial")
    # the adversarial loss starts at exactly zero (both terms equal at the first step)
    np.testing.assert_allclose(res.history["loss"][0], 0.0, atol=1e-6)
    anchored = _gen(tiny_cnn, images[:3], layers="3", steps=15, null_stimuli=null, stop="fixed",
                    regularizer=("seed_anchored", {"distance": sq}))
    moved = (anchored.images - anchored.seeds).abs().mean()
    assert moved < (res.images - res.seeds).abs().mean()


def test_bad_input(tiny_cnn, images, null):
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        _gen(tiny_cnn, images * 2, layers="3", null_stimuli=null)
    with pytest.raises(ShapeError, match="must have 3 channel"):
        _gen(tiny_cnn, images[:, :1], layers="3", null_stimuli=null)
    with pytest.raises(UnknownNameError, match="Unknown layer of test:tiny_cnn_s0 'layer9'"):
        _gen(tiny_cnn, images, layers="layer9", null_stimuli=null)
    with pytest.raises(ConfigError, match="steps must be a positive integer"):
        _gen(tiny_cnn, images, layers="3", steps=0)
    with pytest.raises(ConfigError, match="lr must be a positive number"):
        _gen(tiny_cnn, images, layers="3", lr=-1.0)
    with pytest.raises(ConfigError, match="alpha=1 would start at the target"):
        _gen(tiny_cnn, images, layers="3", init="blend:alpha=1", null_stimuli=null)
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        _gen(tiny_cnn, images, layers="3", amp=True, device="cpu")
    with pytest.raises(ConfigError, match="keep must be"):
        _gen(tiny_cnn, images, layers="3", keep="first")
    with pytest.raises(UnknownNameError, match="Unknown preset"):
        _gen(tiny_cnn, images, layers="3", preset="feathers")
    with pytest.raises(ConfigError, match="same_label='true' needs target labels"):
        _gen(tiny_cnn, images, layers="3", same_label="true", null_stimuli=null)
    with pytest.raises(ConfigError, match="Model objects"):
        _gen("zoo:cnn", images, layers="3", null_stimuli=null)
    with pytest.raises(ShapeError, match="null_stimuli have shape"):
        _gen(tiny_cnn, images, layers="3", null_stimuli=torch.rand(20, 3, 8, 8))
    with pytest.warns(UserWarning, match="only 6 natural images"):
        _gen(tiny_cnn, images, layers="3", steps=2)
    for option, message in [
        ({"check_every": 0}, "check_every must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"repeats": 0}, "repeats must be >= 1"), ({"combine": "median"}, "'mean' or 'max'"),
        ({"quantile": 0.0}, r"quantile must be in \(0, 1\]"),
        ({"statistic": "kendall"}, "statistic must be one of"),
        ({"same_label": "yes"}, "same_label must be False, True, 'predicted' or 'true'"),
    ]:
        with pytest.raises(ConfigError, match=message):
            _gen(tiny_cnn, images, layers="3", null_stimuli=null, **option)
    with pytest.raises(UnknownNameError, match="Unknown optimizer 'adamw'"):
        _gen(tiny_cnn, images, layers="3", optimizer="adamw", null_stimuli=null)


def test_transforms_reach_the_representation_term_only(tiny_cnn, images, null):
    """The model sees the transformed image, the regularizer the untransformed one."""
    seen = {"model": [], "regularizer": []}

    def flip(x, gen):
        return x.flip(-1)

    def record(c):
        seen["regularizer"].append(c.x.detach().clone())
        return c.dist

    handle = tiny_cnn.network[0].register_forward_pre_hook(
        lambda mod, args: seen["model"].append(args[0].detach().clone()) if args[0].requires_grad else None
    )
    try:
        _gen(tiny_cnn, images[:2], layers="3", steps=3, stop="fixed", transforms=[flip],
             regularizer=record, null_stimuli=null, quantize=False)
    finally:
        handle.remove()
    assert len(seen["regularizer"]) == 3 and len(seen["model"]) == 3
    for at_model, at_reg in zip(seen["model"], seen["regularizer"], strict=True):
        torch.testing.assert_close(at_model, tiny_cnn.preprocess(at_reg.flip(-1)))


def test_hot_loop_reads_nothing_back_from_the_device(tiny_cnn, images, null, monkeypatch):
    """Between checks, repalign's code makes no host read of a tensor (.item, .cpu, bool(), ...:
    each a device synchronisation on a GPU): the count does not grow with the steps."""
    import sys

    counts = {"n": 0}
    for name in ("item", "cpu", "tolist", "numpy", "__bool__", "__float__", "__int__", "__array__"):
        real = getattr(torch.Tensor, name)

        def wrapper(self, *a, _real=real, **k):
            if sys._getframe(1).f_globals.get("__name__", "").startswith("repalign"):
                counts["n"] += 1
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, wrapper)
    reads = []
    for steps in (10, 40):
        counts["n"] = 0
        _gen(tiny_cnn, images, layers=["1", "3+4"], steps=steps, check_every=1000,
             stop="criterion", null_stimuli=null, history_every=1, keep="best")
        reads.append(counts["n"])
    assert reads[0] == reads[1] and reads[0] > 0, reads


@pytest.mark.parametrize(
    ("option", "takes"),
    [
        ({"schedule": "cosine:min=0.1"}, "min_factor"), ({"stop": "threshold:tol=0.1"}, "tau"),
        ({"optimizer": "adam:momentum=0.9"}, "momentum"), ({"optimizer": "normalized_gd:mom=1"}, "eps"),
        ({"parametrization": "fourier:decay=1"}, "decay_power"),
        ({"regularizer": "total_variation:w=1"}, "weight="), ({"regularizer": "human_leaning:tvw=1"}, "blur_weight"),
        ({"transforms": ["jitter:dx=2"]}, "'d'"), ({"init": "blend:a=0.5"}, "alpha"),
    ],
    ids=lambda o: str(o)[:30],
)
def test_bad_options_of_a_piece_are_named(tiny_cnn, images, null, option, takes):
    with pytest.raises(ConfigError, match="Bad options") as err:
        _gen(tiny_cnn, images, layers="3", steps=2, null_stimuli=null, **option)
    assert takes in str(err.value)
