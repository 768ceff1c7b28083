"""Model.features: equality with a hand-written forward, early exit, hook hygiene, errors."""

import pytest
import torch
from torch import nn

from repalign.errors import ShapeError, UnknownNameError
from repalign.models.model import Model, Preprocess
from repalign.models.taps import LayerTaps


class Counting(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


class Twice(nn.Module):
    """``relu`` runs twice per forward: before ``a`` and after it."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.relu = nn.ReLU()
        self.b = nn.Linear(3, 3)

    def forward(self, x):
        return self.b(self.relu(self.a(self.relu(x))))


def _no_hooks(module: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


def test_features_equal_hand_written_forward(tiny_cnn, images):
    out = tiny_cnn.features(images, ["4", "7"])
    net, pre = tiny_cnn.network, tiny_cnn.preprocess
    h = pre(images)
    for i in range(5):
        h = net[i](h)
    torch.testing.assert_close(out["4"], h, rtol=0, atol=0)
    torch.testing.assert_close(out["7"], tiny_cnn(images))
    assert list(out) == ["4", "7"]


def test_early_exit_skips_later_layers(images):
    late = Counting(nn.Linear(64, 5))
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), late)
    m = Model(net, Preprocess(), spec="t:c", input_size=(3, 16, 16))
    m.features(images, ["1"])  # the first call traces the layer order (one counted forward)
    before = late.calls
    m.features(images, ["1"])
    assert late.calls == before  # never reached
    m.features(images, ["1"], early_exit=False)
    assert late.calls == before + 1


def test_shared_module_called_twice_gives_last_call_and_waits_for_it():
    net = Twice()
    m = Model(net, None, spec="t:twice", input_size=(1, 1, 3))
    x = torch.randn(2, 1, 1, 3)
    got = m.features(x, ["relu"])["relu"]
    torch.testing.assert_close(got, torch.relu(net.a(torch.relu(x))))


def test_gradients_flow_to_input(tiny_cnn, images):
    x = images.clone().requires_grad_(True)
    f = tiny_cnn.features(x, ["4"])["4"]
    f.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_no_hook_remains_after_success_and_exception(tiny_cnn, images):
    tiny_cnn.features(images, ["1", "4"])
    assert _no_hooks(tiny_cnn)

    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    net = nn.Sequential(nn.Conv2d(3, 2, 1), Boom())
    m = Model(net, None, spec="t:boom", input_size=(3, 4, 4))
    with pytest.raises(RuntimeError, match="boom"), LayerTaps(net, ["0", "1"]):
        net(torch.rand(1, 3, 4, 4))
    assert _no_hooks(m)
    with pytest.raises(RuntimeError, match="boom"):
        m.features(torch.rand(1, 3, 4, 4), ["1"], early_exit=False)
    assert _no_hooks(m)


def test_unknown_layer_lists_valid_names(tiny_cnn, images):
    with pytest.raises(UnknownNameError, match=r"Unknown layer of test:tiny_cnn_s0 '44'.*Valid"):
        tiny_cnn.features(images, ["44"])


def test_wrong_channels_and_rank(tiny_cnn):
    with pytest.raises(ShapeError, match="takes 3-channel images but received 1"):
        tiny_cnn.features(torch.rand(2, 1, 16, 16), ["1"])
    with pytest.raises(ShapeError, match=r"expects images \(N, C, H, W\)"):
        tiny_cnn(torch.rand(3, 16, 16))


def test_preprocess_resizes_and_normalises():
    pre = Preprocess([0.5], [0.5], size=(8, 8))
    out = pre(torch.ones(1, 1, 4, 4))
    assert out.shape == (1, 1, 8, 8)
    torch.testing.assert_close(out, torch.ones(1, 1, 8, 8))


def test_cache_key_changes_with_weights(tiny_cnn):
    k = tiny_cnn.cache_key()
    with torch.no_grad():
        tiny_cnn.network[0].bias.add_(1.0)
    assert tiny_cnn.cache_key() != k


def test_cache_key_changes_with_preprocessing(tiny_cnn):
    k = tiny_cnn.cache_key()
    tiny_cnn.preprocess = Preprocess([0.4] * 3, [0.25] * 3)
    assert tiny_cnn.cache_key() != k
    # a custom preprocessing module enters by its values, not only its repr
    scale = nn.Conv2d(3, 3, 1)
    tiny_cnn.preprocess = scale
    k2 = tiny_cnn.cache_key()
    with torch.no_grad():
        scale.weight.mul_(2.0)
    assert repr(scale) == repr(tiny_cnn.preprocess) and tiny_cnn.cache_key() != k2


def test_no_hook_remains_when_an_early_exit_forward_raises():
    class Flaky(nn.Module):
        fail = False

        def forward(self, x):
            if self.fail:
                raise RuntimeError("flaky")
            return x

    flaky = Flaky()
    net = nn.Sequential(nn.Conv2d(3, 2, 1), flaky, nn.ReLU())
    m = Model(net, None, spec="t:flaky", input_size=(3, 4, 4))
    x = torch.rand(2, 3, 4, 4)
    m.features(x, ["2"])  # traces the call counts (early exit on)
    flaky.fail = True
    with pytest.raises(RuntimeError, match="flaky"):
        m.features(x, ["0", "2"])
    assert _no_hooks(m)
    # also when the first, counting forward raises
    fresh = Model(net, None, spec="t:flaky2", input_size=(3, 4, 4))
    with pytest.raises(RuntimeError, match="flaky"):
        fresh.features(x, ["2"])
    assert _no_hooks(fresh)


def test_counting_during_the_first_forward_replaces_the_probe():
    net = Twice()
    x = torch.randn(4, 1, 1, 3)
    probed = Model(net, None, spec="t:twice", input_size=(1, 1, 3))
    counted = Model(net, None, spec="t:twice", input_size=(1, 1, 3))
    runs = []
    net.register_forward_pre_hook(lambda _m, args: runs.append(args[0].shape[0]))
    want = torch.relu(net.a(torch.relu(x))).detach()
    runs.clear()
    got = counted.features(x, ["relu", "a"], probe=False)
    assert runs == [4]  # one forward, the real batch: no separate probe
    torch.testing.assert_close(got["relu"], want)  # the last call, as with the probe
    torch.testing.assert_close(got["a"], net.a(torch.relu(x)))
    runs.clear()
    ref = probed.features(x, ["relu", "a"])
    assert runs == [1, 4]  # the one-image probe, then the batch
    assert counted.layer_calls(x) == probed.layer_calls(x) == {"relu": 2, "a": 1, "b": 1}
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=0, atol=0)
    runs.clear()
    counted.features(x, ["a"], probe=False)  # counts known now: early exit, no count
    assert runs == [4]
    x.requires_grad_(True)
    counted2 = Model(net, None, spec="t:twice", input_size=(1, 1, 3))
    counted2.features(x, ["b"], probe=False)["b"].sum().backward()  # still differentiable
    assert x.grad is not None and _no_hooks(net.a) and _no_hooks(net.b)
