"""bundled:digits_shifted: renditions of the digits the zoo never trained on."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from repalign._hashing import hash_array
from repalign.data import load_stimuli, shifted
from repalign.data.bundled import digits_split, load_digits
from repalign.data.shifted import (
    DISK2,
    RENDITIONS,
    _rendered,
    digit_skeletons,
    load_digits_shifted,
    render,
    rendition_of,
    shifted_digits_test,
    write_digit_skeletons,
)
from repalign.errors import ConfigError, DataFormatError, MissingDependencyError, UnknownNameError

# the thin pen of the 1,797 digits as scikit-image drew it at load time before its skeletons
# shipped: the hash of the (1797, 32, 32) bool images and their number of stroke pixels
THIN_SHA256 = "73fa3e18db525a0d3e4163574888f54ad5a2d802f0c1e73f663b28b1eb4fb8d1"
THIN_PIXELS = 253_165


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    return load_digits().images[:, 0].numpy()


def test_bundled_name_loads_every_rendition_in_order() -> None:
    s = load_stimuli("bundled:digits_shifted")
    digits = load_digits()
    n = len(digits)
    assert s.shape == (n * len(RENDITIONS), 1, 32, 32)
    assert s.name == "bundled:digits_shifted"
    assert float(s.images.min()) >= 0.0 and float(s.images.max()) <= 1.0
    # rendition-major, each block in the digits' order, with the digits' labels
    assert list(rendition_of(s.ids)) == [r for r in RENDITIONS for _ in range(n)]
    assert s.ids[n + 5] == "digits_shifted/outline/0005"
    np.testing.assert_array_equal(s.labels, np.tile(digits.labels, len(RENDITIONS)))
    small = load_stimuli("bundled:digits_shifted", size=16)
    assert small.shape == (n * len(RENDITIONS), 1, 16, 16)


def test_renditions_are_what_they_say(base: np.ndarray) -> None:
    inv = load_digits_shifted(renditions=["inverted"]).images[:, 0].numpy()
    np.testing.assert_allclose(inv, 1.0 - base, atol=1e-6)
    mask = base > 0.5
    outline = render(base, "outline")
    assert set(np.unique(outline)) <= {0.0, 1.0}
    assert not np.any(outline.astype(bool) & ~mask)  # contour lies on the stroke
    interior = ndimage.binary_erosion(mask, structure=np.ones((1, 3, 3), bool))
    assert not np.any(outline.astype(bool) & interior)  # and never inside it
    thin = load_digits_shifted(renditions=["thin"]).images[:, 0].numpy().astype(bool)
    assert thin.sum() < mask.sum()  # a thinner pen than the original stroke
    thick = render(base, "thick")
    assert np.all(thick >= base - 1e-7) and thick.sum() > 1.2 * base.sum()
    striped = render(base, "striped")
    ii, jj = np.indices(base.shape[1:])
    off = ((ii + jj) // 3) % 2 == 1
    assert np.all(striped[:, off] == 0) and np.allclose(striped[:, ~off], base[:, ~off])
    textured = render(base, "textured")
    assert np.all(textured >= base - 1e-7)
    background = ~mask & (base < 0.05)
    assert textured[background].mean() > 0.15  # the background now carries texture


def test_deterministic_across_loads(base: np.ndarray) -> None:
    first = render(base[:50], "textured", index=np.arange(50))
    _rendered.cache_clear()
    again = load_digits_shifted(renditions=["textured"]).images[:50, 0].numpy()
    np.testing.assert_allclose(first, again, atol=1e-6)
    # each digit has its own texture
    assert not np.allclose(render(base[:1], "textured", index=np.array([0])),
                           render(base[:1], "textured", index=np.array([1])))


def test_test_split_renditions_are_the_zoo_held_out_digits() -> None:
    split = digits_split()
    s = shifted_digits_test(renditions=["inverted", "thick"])
    n = len(split.test)
    assert len(s) == 2 * n
    assert s.labels is not None and set(np.unique(s.labels)) <= set(range(5))
    np.testing.assert_array_equal(s.labels, np.tile(split.test.labels, 2))
    test_idx = [i.split("/")[1] for i in split.test.ids]
    assert [i.rsplit("/", 1)[1] for i in s.ids[:n]] == test_idx
    train_idx = {i.split("/")[1] for i in split.train.ids}
    assert not train_idx & set(test_idx)
    np.testing.assert_allclose(s.images[:n], 1.0 - split.test.images, atol=1e-6)
    assert torch.equal(s.images[n:], load_digits_shifted(renditions=["thick"]).images[
        torch.as_tensor([int(i) for i in test_idx])])


def test_bad_input_is_named() -> None:
    with pytest.raises(UnknownNameError, match="rendition"):
        load_digits_shifted(renditions=["sketch"])
    with pytest.raises(ConfigError, match="repeat"):
        load_digits_shifted(renditions=["thin", "thin"])
    with pytest.raises(ConfigError, match="at least one"):
        load_digits_shifted(renditions=[])
    with pytest.raises(ConfigError, match="digits_shifted/<rendition>/<index>"):
        rendition_of(["digits/0001"])


def test_thin_pen_of_the_digits_is_unchanged_and_needs_no_scikit_image(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "skimage.morphology", None)  # import raises ImportError
    _rendered.cache_clear()
    digit_skeletons.cache_clear()
    try:
        thin = load_digits_shifted(renditions=["thin"]).images[:, 0].numpy()
    finally:
        _rendered.cache_clear()
    assert set(np.unique(thin)) == {0.0, 1.0}
    assert hash_array(thin.astype(bool)) == THIN_SHA256 and int(thin.sum()) == THIN_PIXELS
    # other images than the bundled digits need scikit-image, and say which extra installs it
    with pytest.raises(MissingDependencyError, match=r"pip install 'repalign\[photos\]'"):
        render(np.zeros((1, 8, 8), np.float32), "thin")


def test_shipped_skeletons_are_scikit_image_skeletons(base: np.ndarray, tmp_path: Path) -> None:
    morphology = pytest.importorskip("skimage.morphology", reason="the photos extra is not installed")
    masks = base > 0.5
    ref = np.stack([morphology.skeletonize(m) for m in masks])
    shipped = digit_skeletons()
    assert shipped.shape == (1797, 32, 32) and shipped.dtype == bool
    np.testing.assert_array_equal(shipped, ref)
    # the pen drawn from them is the pen drawn by scikit-image at load time
    np.testing.assert_array_equal(_rendered("thin"), render(base, "thin"))
    # and the file regenerates to the same skeletons
    again = write_digit_skeletons(tmp_path / "s.npz")
    with np.load(again) as f:
        np.testing.assert_array_equal(np.unpackbits(f["packed"], axis=-1).astype(bool), ref)


def test_thick_footprint_is_scikit_image_disk() -> None:
    morphology = pytest.importorskip("skimage.morphology", reason="the photos extra is not installed")
    assert DISK2.dtype == bool
    np.testing.assert_array_equal(DISK2, morphology.disk(2).astype(bool))


def test_stale_or_missing_skeletons_file_is_named(tmp_path: Path, monkeypatch) -> None:
    stale = tmp_path / "stale.npz"
    packed = np.packbits(digit_skeletons(), axis=-1)
    np.savez_compressed(stale, packed=packed, shape=np.array([1797, 32, 32]),
                        masks_sha256=np.array("0" * 64))
    monkeypatch.setattr(shifted, "SKELETONS_FILE", stale)
    digit_skeletons.cache_clear()
    with monkeypatch.context() as m:  # without scikit-image: named, with the two ways out
        m.setitem(sys.modules, "skimage.morphology", None)
        with pytest.raises(DataFormatError, match=r"computed from other masks.*repalign\[photos\]"):
            digit_skeletons()
    monkeypatch.setattr(shifted, "SKELETONS_FILE", tmp_path / "absent.npz")
    with pytest.raises(DataFormatError, match="missing from the installed package"):
        digit_skeletons()
    monkeypatch.undo()
    digit_skeletons.cache_clear()


def test_stale_skeletons_file_falls_back_to_scikit_image(base: np.ndarray, tmp_path: Path,
                                                          monkeypatch, caplog) -> None:
    morphology = pytest.importorskip("skimage.morphology", reason="the photos extra is not installed")
    stale = tmp_path / "stale.npz"
    wrong = np.zeros((1797, 32, 32), bool)  # skeletons that match nothing
    np.savez_compressed(stale, packed=np.packbits(wrong, axis=-1), shape=np.array(wrong.shape),
                        masks_sha256=np.array("0" * 64))
    monkeypatch.setattr(shifted, "SKELETONS_FILE", stale)
    digit_skeletons.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="repalign.data.shifted"):
            got = digit_skeletons()
    finally:
        digit_skeletons.cache_clear()
    assert "computed from other masks" in caplog.text
    np.testing.assert_array_equal(got, np.stack([morphology.skeletonize(m) for m in base > 0.5]))
