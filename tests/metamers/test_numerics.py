"""GPU paths on any device: autocast precision (criterion in float32), channels_last, compile.

The same code runs on the CPU here; tests that need CUDA skip without it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss
import torch

import repalign as ra

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _gen(model, images, **kw):
    kw.setdefault("quiet", True)
    return ra.generate_metamers(model, images, **kw)


def _record_dtypes(model, layer):
    """(grad enabled, output dtype, input is channels_last) of every forward of ``layer``."""
    seen = []
    module = dict(model.network.named_modules())[layer]

    def hook(mod, args, out):
        x = args[0]
        seen.append((torch.is_grad_enabled(), out.dtype,
                     x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last)
                     and not x.is_contiguous()))

    return seen, module.register_forward_hook(hook)


def _recheck(model, res, null, layer="3", dtype=torch.float32):
    """Success and distance of the returned images, recomputed in float32 with scipy."""
    with torch.no_grad():
        nf = model.features(null, [layer])[layer].flatten(1).double().numpy()
        mf = model.features(res.images, [layer])[layer].flatten(1).double().numpy()
        tf = model.features(res.targets, [layer])[layer].flatten(1).double().numpy()
    thr = max(ss.spearmanr(nf[i], nf[j])[0] for i in range(len(nf)) for j in range(i + 1, len(nf)))
    rho = np.array([ss.spearmanr(a, b)[0] for a, b in zip(mf, tf, strict=True)])
    return rho > thr, np.linalg.norm(mf - tf, axis=1) / np.linalg.norm(tf, axis=1)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_optimises_in_low_precision_and_judges_in_float32(tiny_cnn, images, null,
                                                                   precision):
    seen, handle = _record_dtypes(tiny_cnn, "0")  # the first convolution
    try:
        res = _gen(tiny_cnn, images, layers="3", steps=30, check_every=10, stop="criterion",
                   null_stimuli=null, precision=precision)
    finally:
        handle.remove()
    low = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    grad_dtypes = {d for g, d, _ in seen if g}
    judged = {d for g, d, _ in seen if not g}
    assert grad_dtypes == {low}  # every optimisation step ran under autocast
    assert judged == {torch.float32}  # targets, checks and the final judgement: float32
    ok, dist = _recheck(tiny_cnn, res, null)
    np.testing.assert_array_equal(res.success, ok)
    np.testing.assert_allclose(res.final_distance, dist, rtol=1e-4)
    # low precision changes the path a little, not where it goes
    full = _gen(tiny_cnn, images, layers="3", steps=30, check_every=10, stop="criterion",
                null_stimuli=null)
    assert abs(res.final_distance.mean() - full.final_distance.mean()) < 0.25 * full.final_distance.mean()
    assert res.config["precision"] == precision and res.config["amp"] is True


def test_channels_last_gives_the_same_metamers(tiny_cnn, images, null):
    seen, handle = _record_dtypes(tiny_cnn, "0")
    try:
        cl = _gen(tiny_cnn, images, layers="3", steps=20, stop="fixed", null_stimuli=null,
                  channels_last=True)
    finally:
        handle.remove()
    assert all(is_cl for _, _, is_cl in seen)  # every forward saw channels_last inputs
    # the model is given back in its own memory format
    weight = tiny_cnn.network[0].weight
    assert weight.is_contiguous()
    base = _gen(tiny_cnn, images, layers="3", steps=20, stop="fixed", null_stimuli=null)
    torch.testing.assert_close(cl.images, base.images, atol=1 / 255 + 1e-6, rtol=0)
    np.testing.assert_allclose(cl.final_distance, base.final_distance, rtol=1e-3)


def test_compile_traces_the_network_around_the_read_layers(tiny_cnn, images, null):
    """``compile`` takes a torch.compile backend; 'eager' runs dynamo's graph capture without
    inductor's minutes-long C++ build on a CPU. The blocks before the read layer are compiled
    (no graph break from the early exit or the layer hooks) and given back uncompiled."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    limit = torch._dynamo.config.recompile_limit
    res = _gen(tiny_cnn, images[:3], layers="3", steps=6, stop="fixed", null_stimuli=null,
               compile="eager")
    assert counters["stats"]["unique_graphs"] >= 1  # forwards were captured into graphs
    assert counters["frames"]["ok"] == counters["frames"]["total"]  # and none fell back
    assert not counters["unimplemented"]  # no graph break
    assert all(m._compiled_call_impl is None for m in tiny_cnn.network.modules())
    assert torch._dynamo.config.recompile_limit == limit
    base = _gen(tiny_cnn, images[:3], layers="3", steps=6, stop="fixed", null_stimuli=null)
    torch.testing.assert_close(res.images, base.images, atol=1 / 255 + 1e-6, rtol=0)
    with pytest.raises(ra.errors.ConfigError, match="compile must be True/False or a torch"):
        _gen(tiny_cnn, images, layers="3", compile=3, null_stimuli=null)


def test_compile_leaves_the_read_layers_and_their_ancestors_eager():
    from torch import nn

    from repalign.metamers.compiled import compiled

    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1)),
                        nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
    with compiled([(net, ["1.0"])], backend="eager") as done:
        names = sorted(n for n, m in net.named_modules() if m in done)
    assert names == ["0", "1.1", "4"]  # not "1" (holds the read layer) nor "1.0"; ReLU: nothing
    assert all(m._compiled_call_impl is None for m in net.modules())


@cuda
def test_cuda_bf16_channels_last_matches_cpu(tiny_cnn, images, null):
    gpu = _gen(tiny_cnn, images, layers="3", steps=40, stop="fixed", null_stimuli=null,
               device="cuda", precision="bf16", channels_last=True)
    old = _gen(tiny_cnn, images, layers="3", steps=40, stop="fixed", null_stimuli=null,
               device="cuda", amp=True, channels_last=True)
    torch.testing.assert_close(gpu.images, old.images, rtol=0, atol=0)  # amp=True is bf16
    cpu = _gen(tiny_cnn.to("cpu"), images, layers="3", steps=40, stop="fixed", null_stimuli=null)
    assert abs(gpu.final_distance.mean() - cpu.final_distance.mean()) < 0.25 * cpu.final_distance.mean()
    ok, _ = _recheck(tiny_cnn.to("cpu"), gpu, null)
    np.testing.assert_array_equal(gpu.success, ok)


@cuda
def test_cuda_hot_loop_does_not_synchronise(tiny_cnn, images, null):
    """Between checks no step copies a value back to the host (each copy waits for the GPU):
    the number of copies does not grow with the steps."""
    calls = {"n": 0}
    real = torch.Tensor.cpu

    def counting(self, *a, **k):
        calls["n"] += 1
        return real(self, *a, **k)

    kw = {"layers": "3", "check_every": 1000, "stop": "criterion", "null_stimuli": null,
          "device": "cuda", "precision": "bf16"}
    _gen(tiny_cnn, images, steps=3, **kw)  # the null distribution is computed (and cached) here
    counts = []
    for steps in (10, 60):
        calls["n"] = 0
        torch.Tensor.cpu = counting
        try:
            _gen(tiny_cnn, images, steps=steps, **kw)
        finally:
            torch.Tensor.cpu = real
        counts.append(calls["n"])
    assert counts[0] == counts[1]
