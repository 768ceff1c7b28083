"""extract_features: equals a hand-written forward, one early-exit pass for several layers,
order kept, hooks removed, bad inputs raise named errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import repalign as ra
from repalign.errors import ConfigError, ShapeError, UnknownNameError
from repalign.features import extract_features


def _manual(model, x, upto):
    h = model.preprocess(x)
    for i in range(upto + 1):
        h = model.network[i](h)
    return h


def test_features_equal_hand_written_forward(counting_cnn, stimuli):
    x = stimuli.images
    feats = extract_features(counting_cnn, stimuli, ["1", "3", "6"], batch_size=4, quiet=True)
    with torch.no_grad():
        ref1 = _manual(counting_cnn, x, 1).reshape(10, -1).numpy()
        ref3 = _manual(counting_cnn, x, 3).numpy()
        ref6 = counting_cnn(x).numpy()
    np.testing.assert_allclose(feats["1"], ref1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats["3"], ref3.reshape(10, -1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats["6"], ref6, rtol=1e-5, atol=1e-6)
    assert list(feats) == ["1", "3", "6"]
    assert all(f.dtype == np.float32 and f.flags.c_contiguous for f in feats.values())
    pooled = extract_features(counting_cnn, stimuli, ["3"], reduce="avgpool", quiet=True)["3"]
    np.testing.assert_allclose(pooled, ref3.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)


def test_one_forward_per_batch_for_several_layers_and_early_exit(counting_cnn, stimuli):
    first, head = counting_cnn.network[0], counting_cnn.network[6]
    extract_features(counting_cnn, stimuli, ["1"], batch_size=4, quiet=True)  # traces the layer order
    first.calls = head.calls = 0
    extract_features(counting_cnn, stimuli, ["1", "3"], batch_size=4, quiet=True)
    assert first.calls == 3  # ceil(10 / 4) batches, both layers from the same forward
    assert head.calls == 0  # the forward stopped after layer 3


def test_order_and_batch_size_do_not_change_results(counting_cnn, stimuli):
    a = extract_features(counting_cnn, stimuli, ["3"], batch_size=3, quiet=True)["3"]
    b = extract_features(counting_cnn, stimuli, ["3"], batch_size=64, quiet=True)["3"]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    perm = np.random.default_rng(0).permutation(10)
    c = extract_features(counting_cnn, stimuli.subset(perm), ["3"], quiet=True)["3"]
    np.testing.assert_allclose(c, b[perm], rtol=1e-5, atol=1e-6)


def test_tensor_array_and_stimuli_inputs_agree(counting_cnn, stimuli):
    a = extract_features(counting_cnn, stimuli, "3", quiet=True)["3"]
    b = extract_features(counting_cnn, stimuli.images, "3", quiet=True)["3"]
    c = extract_features(counting_cnn, stimuli.images.numpy().astype(np.float64), "3", quiet=True)["3"]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, c, rtol=1e-6)


def test_training_mode_is_restored_and_features_use_eval(counting_cnn, stimuli):
    counting_cnn.train()
    extract_features(counting_cnn, stimuli, ["3"], quiet=True)
    assert counting_cnn.training


def _no_hooks(module):
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


def test_no_hook_remains_after_success_or_error(counting_cnn, stimuli):
    extract_features(counting_cnn, stimuli, ["1", "3"], quiet=True)
    assert _no_hooks(counting_cnn)

    def broken(x):
        raise RuntimeError("reducer failed")

    with pytest.raises(RuntimeError, match="reducer failed"):
        extract_features(counting_cnn, stimuli, ["3"], reduce=broken, quiet=True)
    assert _no_hooks(counting_cnn)


def test_default_layers_when_none(counting_cnn, stimuli):
    feats = extract_features(counting_cnn, stimuli, None, quiet=True)
    assert list(feats) == ra.models.default_layers(counting_cnn)


def test_per_layer_reducers(counting_cnn, stimuli):
    feats = extract_features(counting_cnn, stimuli, ["3", "6"], reduce={"3": "avgpool", "6": "flatten"}, quiet=True)
    assert feats["3"].shape == (10, 8) and feats["6"].shape == (10, 4)


def test_model_spec_string_and_transformer_tokens(tmp_path):
    pytest.importorskip("transformers")
    cfg = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
           "image_size": 16, "patch_size": 8}
    m = ra.create_model("hf:vit", pretrained=False, device="cpu", config=cfg)
    x = torch.rand(3, 3, 16, 16)
    f = extract_features(m, x, ["model.layernorm"], reduce="cls_token", quiet=True)["model.layernorm"]
    with torch.no_grad():
        ref = m.network.model(pixel_values=m.preprocess(x)).last_hidden_state[:, 0]
    np.testing.assert_allclose(f, ref.numpy(), rtol=1e-5, atol=1e-6)
    import torchvision

    torch.save(torchvision.models.resnet18(num_classes=3).state_dict(), tmp_path / "r.pt")
    spec = f"file:{tmp_path / 'r.pt'}?arch=resnet18&num_classes=3"
    g = extract_features(spec, x, ["layer1"], reduce="avgpool", device="cpu", quiet=True)
    assert g["layer1"].shape == (3, 64)


@pytest.mark.parametrize(
    ("stim", "error", "match"),
    [
        (torch.rand(4, 1, 16, 16), ShapeError, r"3-channel.*channels=3"),
        (torch.rand(4, 3, 16, 16) * 2, ShapeError, r"\[0, 1\]"),
        (torch.rand(3, 16, 16), ShapeError, r"\(N, C, H, W\)"),
        (torch.full((2, 3, 16, 16), float("nan")), ShapeError, "NaN"),
        (torch.rand(0, 3, 16, 16), ShapeError, "N = 0"),
        (torch.randint(0, 255, (2, 3, 16, 16), dtype=torch.uint8), ShapeError, "255"),
        ([1, 2, 3], ShapeError, "stimuli must be"),
    ],
)
def test_bad_stimuli(counting_cnn, stim, error, match):
    with pytest.raises(error, match=match):
        extract_features(counting_cnn, stim, ["3"], quiet=True)


def test_bad_options(counting_cnn, stimuli, tmp_path):
    with pytest.raises(UnknownNameError, match=r"Unknown layer of test:counting '9'"):
        extract_features(counting_cnn, stimuli, ["9"])
    with pytest.raises(UnknownNameError, match=r"Did you mean 'avgpool'"):
        extract_features(counting_cnn, stimuli, ["3"], reduce="avgpoo1")
    with pytest.raises(ConfigError, match="more than once"):
        extract_features(counting_cnn, stimuli, ["3", "3"])
    with pytest.raises(ConfigError, match="batch_size"):
        extract_features(counting_cnn, stimuli, ["3"], batch_size=0)
    with pytest.raises(ShapeError, match=r"cls_token.*rank-3.*\(10, 8, 8, 8\)"):
        extract_features(counting_cnn, stimuli, ["3"], reduce="cls_token", quiet=True)
    with pytest.raises(ConfigError, match="lacks"):
        extract_features(counting_cnn, stimuli, ["3", "6"], reduce={"3": "avgpool"})
    with pytest.raises(ConfigError, match=r"\.h5"):
        extract_features(counting_cnn, stimuli, ["3"], out=tmp_path / "f.npz", quiet=True)
    with pytest.raises(ConfigError, match="Model"):
        extract_features(torch.nn.Linear(2, 2), stimuli, ["3"])  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match=r"must return \(N, D\)"):
        extract_features(counting_cnn, stimuli, ["3"], reduce=lambda t: t.sum(), quiet=True)
