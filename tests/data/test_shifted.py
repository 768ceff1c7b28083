"""bundled:digits_shifted: renditions of the digits the zoo never trained on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from repalign.data import load_stimuli
from repalign.data.bundled import digits_split, load_digits
from repalign.data.shifted import (
    RENDITIONS,
    _rendered,
    load_digits_shifted,
    render,
    rendition_of,
    shifted_digits_test,
)
from repalign.errors import ConfigError, UnknownNameError


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
    thin = render(base, "thin").astype(bool)
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
