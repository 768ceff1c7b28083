"""Streamed extraction: folders decoded in DataLoader workers, channels_last, compile."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import repalign as ra
from repalign.errors import ConfigError, DataFormatError
from repalign.features.stream import FolderImages


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from sklearn.datasets import load_sample_images

    root = tmp_path_factory.mktemp("imgs")
    # eight 32x32 tiles of scikit-learn's two photographs (a palace, a flower), resized to 64x64
    tiles = []
    for photo in load_sample_images().images:
        small = np.asarray(Image.fromarray(photo).resize((64, 64), Image.BILINEAR))
        tiles += [small[i:i + 32, j:j + 32] for i in (0, 32) for j in (0, 32)]
    for i, arr in enumerate(tiles):
        Image.fromarray(arr).save(root / f"p{i:02d}.png")
        Image.fromarray(arr).convert("L").save(root / f"q{i:02d}.png")  # grey files too
    return root


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return ra.create_model("torchvision:resnet18", pretrained=False, device="cpu", image_size=32)


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_folder_equals_loaded_stimuli(folder, net, workers):
    ref = ra.extract_features(net, ra.load_stimuli(folder, channels=3), ["layer2", "fc"],
                              batch_size=5, quiet=True)
    got = ra.extract_features(net, str(folder), ["layer2", "fc"], batch_size=5, quiet=True,
                              num_workers=workers)
    for layer in ref:
        np.testing.assert_allclose(got[layer], ref[layer], rtol=1e-5, atol=1e-6)
    ds = FolderImages(folder, 3, limit=3)
    assert len(ds) == 3 and ds.ids == ["p00.png", "p01.png", "p02.png"]


def test_streamed_folder_to_hdf5_keeps_ids_and_order(folder, net, tmp_path):
    out = tmp_path / "f.h5"
    got = ra.extract_features(net, folder, ["fc"], batch_size=4, out=out, quiet=True, num_workers=1)
    ref = ra.extract_features(net, ra.load_stimuli(folder, channels=3), ["fc"], quiet=True)
    np.testing.assert_allclose(np.asarray(got["fc"]), ref["fc"], rtol=1e-5, atol=1e-6)
    from repalign.features import load_feature_ids

    assert load_feature_ids(out) == list(ra.load_stimuli(folder).ids)


def test_channels_last_same_features_and_model_restored(net):
    x = torch.rand(6, 3, 32, 32)
    ref = ra.extract_features(net, x, ["layer3", "avgpool"], quiet=True)
    got = ra.extract_features(net, x, ["layer3", "avgpool"], quiet=True, channels_last=True)
    for layer in ref:
        np.testing.assert_allclose(got[layer], ref[layer], rtol=1e-4, atol=1e-5)
    assert net.network.conv1.weight.is_contiguous()  # converted back


def test_compile_traces_up_to_the_deepest_layer(net):
    zoo = ra.create_model("zoo:cnn_standard_s0", device="cpu")
    x = torch.rand(4, 1, 32, 32)
    ref = ra.extract_features(zoo, x, ["block2", "block3.relu"], quiet=True)
    got = ra.extract_features(zoo, x, ["block2", "block3.relu"], quiet=True, compile="aot_eager")
    for layer in ref:
        np.testing.assert_allclose(got[layer], ref[layer], rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="run more than once"):
        ra.extract_features(net, torch.rand(1, 3, 32, 32), ["layer1.0.relu"], quiet=True,
                            compile="aot_eager")


def test_stream_errors(folder, net, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.new("RGB", (32, 32)).save(mixed / "a.png")
    Image.new("RGB", (40, 32)).save(mixed / "b.png")
    with pytest.raises(DataFormatError, match="differ in size"):
        ra.extract_features(net, mixed, ["fc"], batch_size=2, quiet=True, num_workers=0)
    with pytest.raises(ConfigError, match="num_workers"):
        ra.extract_features(net, folder, ["fc"], quiet=True, num_workers=-1)
    (mixed / "b.png").write_bytes(b"not an image")
    with pytest.raises(DataFormatError, match=r"b\.png: not a readable image"):
        ra.extract_features(net, mixed, ["fc"], quiet=True, num_workers=0)


def test_the_layer_call_probe_runs_only_where_early_exit_needs_it():
    x = torch.rand(7, 3, 32, 32)
    models, sizes = [], []
    for _ in range(2):
        torch.manual_seed(0)
        m = ra.create_model("torchvision:resnet18", pretrained=False, device="cpu", image_size=32)
        m.network.register_forward_pre_hook(lambda _m, a: sizes.append(a[0].shape[0]))
        models.append(m)
    with torch.no_grad():
        want = models[0](x).numpy()
    sizes.clear()
    got = ra.extract_features(models[0], x, ["fc"], batch_size=3, quiet=True)
    assert sizes == [3, 3, 1]  # fc ends the network: its calls are counted in the first batch
    np.testing.assert_allclose(got["fc"], want, rtol=1e-5, atol=1e-5)
    sizes.clear()
    shallow = ra.extract_features(models[1], x, ["layer2"], batch_size=3, quiet=True)
    assert sizes == [1, 3, 3, 1]  # a one-image probe first, then early exit at layer2
    sizes.clear()
    again = ra.extract_features(models[0], x, ["layer2"], batch_size=3, quiet=True)
    assert sizes == [3, 3, 1]  # counts known from the fc run: no probe
    np.testing.assert_array_equal(again["layer2"], shallow["layer2"])
