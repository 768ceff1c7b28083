"""load_stimuli: bundled sets, folders, arrays; every bad input raises a named error."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits as sk_load_digits

from repalign.data import DigitsSplit, Stimuli, digits_split, load_stimuli
from repalign.data.bundled import PHOTO_FILES
from repalign.data.transforms import LUMA_WEIGHTS, convert_channels, crop_resize
from repalign.errors import ConfigError, DataFormatError, MissingDependencyError, UnknownNameError


# -- bundled -----------------------------------------------------------------------------------
def test_digits_default_shape_labels_ids() -> None:
    stim = load_stimuli("bundled:digits")
    ref = sk_load_digits()
    assert stim.shape == (1797, 1, 32, 32)
    assert stim.images.dtype == torch.float32
    assert 0.0 <= float(stim.images.min()) and float(stim.images.max()) <= 1.0
    np.testing.assert_array_equal(stim.labels, ref.target)
    assert stim.label_names == tuple(str(i) for i in range(10))
    assert stim.ids[0] == "digits/0000" and stim.ids[-1] == "digits/1796"
    assert stim.name == "bundled:digits"


def test_digits_native_size_equals_sklearn_scaled() -> None:
    stim = load_stimuli("bundled:digits", size=8)
    ref = sk_load_digits().images / 16.0
    np.testing.assert_allclose(stim.images[:, 0].numpy(), ref, atol=1e-7)


def test_digits_upsampling_preserves_block_means_and_channels() -> None:
    stim = load_stimuli("bundled:digits", channels=3, limit=10)
    assert stim.shape == (10, 3, 32, 32)
    assert torch.equal(stim.images[:, 0], stim.images[:, 1])
    # bilinear 4x upsampling keeps each 8x8 image's overall mean close to the original's
    ref = sk_load_digits().images[:10] / 16.0
    np.testing.assert_allclose(stim.images[:, 0].mean((1, 2)).numpy(), ref.mean((1, 2)), atol=0.02)


@pytest.fixture
def photos_extra() -> None:
    """Skips a test of bundled:photos where scikit-image (the photos extra) is not installed."""
    pytest.importorskip("skimage.data", reason="the photos extra (scikit-image) is not installed")


def test_photos_shape_ids_and_range(photos_extra) -> None:
    stim = load_stimuli("bundled:photos")
    assert stim.shape == (len(PHOTO_FILES), 3, 64, 64)
    assert stim.ids == tuple(f"photos/{pid}" for _, _, pid in PHOTO_FILES)
    assert stim.labels is None
    assert 0.0 <= float(stim.images.min()) and float(stim.images.max()) <= 1.0
    assert float(stim.images.std()) > 0.1  # real photographs, not blank


def test_photos_size_and_grey_conversion(photos_extra) -> None:
    rgb = load_stimuli("bundled:photos", size=(24, 40))
    grey = load_stimuli("bundled:photos", size=(24, 40), channels=1)
    assert rgb.shape == (len(PHOTO_FILES), 3, 24, 40) and grey.shape[1] == 1
    expected = sum(w * rgb.images[:, c] for c, w in enumerate(LUMA_WEIGHTS))
    torch.testing.assert_close(grey.images[:, 0], expected, atol=1e-6, rtol=0)


def test_photo_centre_crop_matches_pil(photos_extra, tmp_path: Path) -> None:
    # the cat photo (451 x 300, wide): centre-cropped square vs PIL's crop of the same box
    import skimage.data

    path = Path(skimage.data.__file__).parent / "chelsea.png"
    with Image.open(path) as img:
        w, h = img.size
        left = (w - h) // 2
        ref = np.asarray(img.convert("RGB").crop((left, 0, left + h, h)), dtype=np.float32) / 255
    stim = load_stimuli("bundled:photos", size=h)  # no resampling at the native height
    cat = stim.images[stim.ids.index("photos/cat")].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(cat, ref, atol=1e-6)


def test_photos_without_scikit_image_name_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "skimage.data", None)  # import raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'repalign\[photos\]'"):
        load_stimuli("bundled:photos")


def test_unknown_bundled_set_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="digit"):
        load_stimuli("bundled:digit")


def test_digits_split_fixed_disjoint_stratified() -> None:
    split = digits_split()
    again = digits_split()
    assert isinstance(split, DigitsSplit)
    assert split.train.ids == again.train.ids and split.test.ids == again.test.ids
    train, test, transfer = set(split.train.ids), set(split.test.ids), set(split.transfer.ids)
    assert not (train & test) and not (train & transfer) and not (test & transfer)
    assert set(split.train.labels) == set(split.test.labels) == {0, 1, 2, 3, 4}
    assert set(split.transfer.labels) == {5, 6, 7, 8, 9}
    target = sk_load_digits().target
    assert len(train | test) == int(np.isin(target, range(5)).sum())
    assert len(transfer) == int(np.isin(target, range(5, 10)).sum())
    for c in range(5):
        share = (split.test.labels == c).sum() / (target == c).sum()
        assert 0.27 < share < 0.33


# -- folders -----------------------------------------------------------------------------------
def _png(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


@pytest.fixture
def class_folder(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    arrays = {}
    for rel in ["dog/b.png", "cat/z.png", "cat/a.png", "dog/sub/c.png"]:
        arrays[rel] = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
        _png(tmp_path / rel, arrays[rel])
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01junk")
    return tmp_path, arrays


def test_folder_sorted_ids_labels_and_exact_pixels(class_folder) -> None:
    root, arrays = class_folder
    stim = load_stimuli(root)
    assert stim.ids == ("cat/a.png", "cat/z.png", "dog/b.png", "dog/sub/c.png")
    assert stim.label_names == ("cat", "dog")
    np.testing.assert_array_equal(stim.labels, [0, 0, 1, 1])
    assert stim.shape == (4, 3, 6, 5)
    for i, rel in enumerate(stim.ids):
        ref = arrays[rel].astype(np.float32) / 255.0
        np.testing.assert_allclose(stim.images[i].permute(1, 2, 0).numpy(), ref, atol=1e-7)


def test_folder_limit_and_size(class_folder) -> None:
    root, _ = class_folder
    stim = load_stimuli(root, size=4, channels=1, limit=2)
    assert stim.shape == (2, 1, 4, 4)
    assert stim.ids == ("cat/a.png", "cat/z.png")
    np.testing.assert_array_equal(stim.labels, [0, 0])


def test_flat_folder_has_no_labels_and_mixed_modes(tmp_path: Path) -> None:
    _png(tmp_path / "grey.png", np.full((4, 4), 255, np.uint8))
    _png(tmp_path / "rgb.png", np.zeros((4, 4, 3), np.uint8))
    stim = load_stimuli(tmp_path)
    assert stim.labels is None and stim.label_names is None
    assert stim.shape == (2, 3, 4, 4)  # grey replicated to match the RGB image
    assert float(stim.images[0].min()) == 1.0 and float(stim.images[1].max()) == 0.0
    assert load_stimuli(tmp_path, channels=1).shape == (2, 1, 4, 4)


def test_grey_folder_stays_one_channel_and_16_bit(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", np.full((3, 3), 128, np.uint8))
    Image.fromarray(np.full((3, 3), 65535, np.uint16)).save(tmp_path / "b.png")
    stim = load_stimuli(tmp_path)
    assert stim.shape == (2, 1, 3, 3)
    assert float(stim.images[0, 0, 0, 0]) == pytest.approx(128 / 255)
    assert float(stim.images[1, 0, 0, 0]) == pytest.approx(1.0)


def test_alpha_channel_dropped_with_warning(tmp_path: Path) -> None:
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 0] = 200
    _png(tmp_path / "x.png", rgba, mode="RGBA")
    with pytest.warns(UserWarning, match="alpha"):
        stim = load_stimuli(tmp_path)
    assert stim.shape == (1, 3, 3, 3)
    assert float(stim.images[0, 0, 0, 0]) == pytest.approx(200 / 255)


def test_folder_centre_crop(tmp_path: Path) -> None:
    img = np.zeros((10, 30), np.uint8)
    img[:, 10:20] = 255  # white centre square, black left and right thirds
    _png(tmp_path / "wide.png", img)
    stim = load_stimuli(tmp_path, size=5)
    assert stim.shape == (1, 1, 5, 5)
    assert float(stim.images.min()) > 0.99


def test_corrupt_file_named(tmp_path: Path) -> None:
    _png(tmp_path / "good.png", np.zeros((4, 4), np.uint8))
    data = (tmp_path / "good.png").read_bytes()
    (tmp_path / "broken.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"broken\.png"):
        load_stimuli(tmp_path)


def test_non_image_file_named_and_extensions_filter(tmp_path: Path) -> None:
    _png(tmp_path / "a" / "good.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    with pytest.raises(DataFormatError, match=r"a/notes\.txt.*not a readable image"):
        load_stimuli(tmp_path)
    assert load_stimuli(tmp_path, extensions=("png",)).ids == ("a/good.png",)


def test_empty_missing_file_and_mixed_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hidden").write_text("x")
    with pytest.raises(DataFormatError, match="holds no files"):
        load_stimuli(tmp_path / "empty")
    with pytest.raises(DataFormatError, match="does not exist"):
        load_stimuli(tmp_path / "nowhere")
    _png(tmp_path / "one.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(DataFormatError, match="is a file"):
        load_stimuli(tmp_path / "one.png")
    _png(tmp_path / "mixed" / "top.png", np.zeros((2, 2), np.uint8))
    _png(tmp_path / "mixed" / "cls" / "in.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(DataFormatError, match=r"mixes files.*top\.png"):
        load_stimuli(tmp_path / "mixed")


def test_sizes_differ_needs_size(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "b.png", np.zeros((6, 8), np.uint8))
    with pytest.raises(DataFormatError, match=r"differ in size.*b\.png"):
        load_stimuli(tmp_path)
    assert load_stimuli(tmp_path, size=4).shape == (2, 1, 4, 4)


# -- arrays ------------------------------------------------------------------------------------
def test_array_ranks_and_values_kept() -> None:
    x = np.random.default_rng(0).random((5, 7, 6)).astype(np.float32)
    stim = load_stimuli(x, labels=np.arange(5), label_names=list("abcde"))
    assert stim.shape == (5, 1, 7, 6)
    np.testing.assert_array_equal(stim.images[:, 0].numpy(), x)
    assert stim.ids[0] == "array/00000" and stim.labels.tolist() == [0, 1, 2, 3, 4]
    t = torch.rand(3, 3, 4, 4, requires_grad=True)
    out = load_stimuli(t, ids=["p", "q", "r"], name="mine")
    assert out.ids == ("p", "q", "r") and out.name == "mine"
    assert torch.equal(out.images, t.detach())


def test_uint8_and_channels_last() -> None:
    x = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    stim = load_stimuli(x, channels_last=True)
    assert stim.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(stim.images.permute(0, 2, 3, 1).numpy(), x / 255.0, atol=1e-7)
    with pytest.raises(DataFormatError, match=r"channels-last.*channels_last=True"):
        load_stimuli(x)


def test_stimuli_pass_through_and_resize() -> None:
    stim = Stimuli(torch.rand(2, 3, 8, 8), ids=["a", "b"])
    assert load_stimuli(stim) is stim
    assert load_stimuli(stim, size=4, channels=1).shape == (2, 1, 4, 4)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.zeros((4, 4)), r"shape \(4, 4\)"),
        (np.zeros((1, 1, 3, 4, 4)), r"shape \(1, 1, 3, 4, 4\)"),
        (np.zeros((2, 2, 4, 4)), "1 or 3 channels"),
        (np.zeros((0, 4, 4)), "no images"),
        (np.full((2, 4, 4), 1.5), r"\[0, 1\].*1\.5"),
        (np.full((2, 4, 4), -0.1), r"\[0, 1\]"),
        (np.full((2, 4, 4), np.nan), "NaN"),
        (np.zeros((2, 4, 4), dtype=np.int32), "int32"),
    ],
)
def test_bad_arrays_raise_named_error(x: np.ndarray, match: str) -> None:
    with pytest.raises(DataFormatError, match=match):
        load_stimuli(x)


def test_bad_arguments() -> None:
    x = np.zeros((3, 4, 4), np.float32)
    with pytest.raises(DataFormatError, match="3 images but labels"):
        load_stimuli(x, labels=[0, 1])
    with pytest.raises(DataFormatError, match="3 images but 2 ids"):
        load_stimuli(x, ids=["a", "b"])
    with pytest.raises(ConfigError, match="channels must be 1, 3"):
        load_stimuli(x, channels=2)
    with pytest.raises(ConfigError, match="size must be"):
        load_stimuli(x, size=(4,))
    with pytest.raises(ConfigError, match="limit"):
        load_stimuli(x, limit=0)
    with pytest.raises(ConfigError, match="labels"):
        load_stimuli("bundled:digits", labels=[0])
    with pytest.raises(DataFormatError, match="received int"):
        load_stimuli(42)  # type: ignore[arg-type]


def test_transforms_against_direct_formulas() -> None:
    x = torch.rand(2, 3, 6, 9)
    grey = convert_channels(x, 1)
    torch.testing.assert_close(grey[:, 0], 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])
    assert torch.equal(convert_channels(grey, 3)[:, 2], grey[:, 0])
    # cropping a 6x9 image to square keeps the middle 6 columns exactly
    assert torch.equal(crop_resize(x, (6, 6)), x[..., 1:7])
    up = crop_resize(x, (12, 12))
    assert up.shape == (2, 3, 12, 12) and float(up.min()) >= 0 and float(up.max()) <= 1


# -- the Stimuli container ---------------------------------------------------------------------
def test_stimuli_sha256_is_the_content_hash() -> None:
    import hashlib

    x = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    stim = Stimuli(x, ids=["a", "b", "c"])
    arr = x.numpy()
    ref = hashlib.sha256(str(arr.dtype).encode() + str(arr.shape).encode() + arr.tobytes())
    assert stim.sha256 == ref.hexdigest()
    assert Stimuli(x.clone(), ids=["p", "q", "r"], labels=[0, 1, 1], name="other").sha256 == stim.sha256
    changed = x.clone()
    changed[2, 0, 3, 3] = 1.0 - changed[2, 0, 3, 3]
    assert Stimuli(changed, ids=["a", "b", "c"]).sha256 != stim.sha256
    assert stim.subset([2, 0]).sha256 == Stimuli(x[[2, 0]], ids=["c", "a"]).sha256


def test_stimuli_subset_and_where_keep_order_and_metadata() -> None:
    stim = load_stimuli("bundled:digits", size=8, limit=20)
    sub = stim.subset([5, 1, -3])
    assert sub.ids == (stim.ids[5], stim.ids[1], stim.ids[-3])
    np.testing.assert_array_equal(sub.labels, stim.labels[[5, 1, -3]])
    assert torch.equal(sub.images, stim.images[[5, 1, -3]]) and sub.label_names == stim.label_names
    threes = stim.where([3])
    assert list(threes.labels) == [3] * int((stim.labels == 3).sum())
    assert threes.ids == tuple(i for i, lab in zip(stim.ids, stim.labels, strict=True) if lab == 3)


def test_stimuli_bad_construction_raises_named_errors() -> None:
    from repalign.errors import ShapeError

    x = torch.rand(2, 1, 4, 4)
    with pytest.raises(ShapeError, match="2 images but 3 ids"):
        Stimuli(x, ids=["a", "b", "c"])
    with pytest.raises(DataFormatError, match=r"ids must be unique.*\['a'\]"):
        Stimuli(x, ids=["a", "a"])
    with pytest.raises(ShapeError, match="labels must be 2 integers"):
        Stimuli(x, ids=["a", "b"], labels=[0.5, 1.0])
    with pytest.raises(DataFormatError, match=r"labels range over \[0, 2\].*2 label names"):
        Stimuli(x, ids=["a", "b"], labels=[0, 2], label_names=["x", "y"])
    with pytest.raises(ShapeError, match="subset index out of range for 2"):
        Stimuli(x, ids=["a", "b"]).subset([2])
    with pytest.raises(DataFormatError, match="no labels to select on"):
        Stimuli(x, ids=["a", "b"]).where([0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Stimuli(x * 3, ids=["a", "b"])
