"""ImageNet-R / ImageNet-A loaders on small folders written in the published layout."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from repalign.data.imagenet_variants import (
    imagenet_wnids,
    load_imagenet_variant,
    variant_accuracy,
    variant_indices,
    variant_wnids,
)
from repalign.errors import DataFormatError, ShapeError, UnknownNameError


def _write(root: Path, wnids: list[str], per_class: int, rng: np.random.Generator) -> None:
    root.mkdir()
    (root / "README.txt").write_text("ImageNet-R: renditions of 200 ImageNet classes\n")
    for w in wnids:
        (root / w).mkdir()
        for i in range(per_class):
            h, wd = rng.integers(40, 90, size=2)
            arr = rng.integers(0, 256, size=(h, wd, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / w / f"art_{i}.jpg")


def test_class_lists_and_known_indices() -> None:
    spec = importlib.util.find_spec("timm")
    assert spec is not None and spec.submodule_search_locations
    timm_info = Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"
    wnids = imagenet_wnids()
    assert len(wnids) == 1000 and len(set(wnids)) == 1000 and list(wnids) == sorted(wnids)
    assert wnids.index("n01443537") == 1  # goldfish
    assert wnids.index("n01498041") == 6  # stingray, ImageNet-A's first class
    for variant, name in (("imagenet-r", "imagenet_r"), ("imagenet-a", "imagenet_a")):
        assert len(set(variant_wnids(variant))) == 200
        # the published index lists agree with the positions among the 1,000 ids
        text = (timm_info / f"{name}_indices.txt").read_text()
        published = np.array([int(x) for x in text.split()])
        np.testing.assert_array_equal(np.sort(published), variant_indices(variant))


def test_loads_renditions_with_imagenet_labels(tmp_path, rng) -> None:
    wnids = list(variant_wnids("imagenet-r")[:3])
    _write(tmp_path / "imagenet-r", wnids, 3, rng)
    stim = load_imagenet_variant(tmp_path / "imagenet-r", "imagenet-r", size=32)
    assert stim.shape == (9, 3, 32, 32) and stim.name == "imagenet-r"
    expect = [imagenet_wnids().index(w) for w in wnids for _ in range(3)]
    np.testing.assert_array_equal(stim.labels, expect)
    assert [stim.label_names[i] for i in stim.labels[::3]] == wnids
    assert stim.ids[0] == f"{wnids[0]}/art_0.jpg"
    few = load_imagenet_variant(tmp_path / "imagenet-r", "imagenet-r", size=16, per_class=1)
    assert len(few) == 3 and list(few.labels) == expect[::3]
    with pytest.raises(DataFormatError, match="197 of its 200 class folders are missing"):
        load_imagenet_variant(tmp_path / "imagenet-r", "imagenet-r", require_all=True)


def test_wrong_layouts_are_named(tmp_path, rng) -> None:
    only_a = sorted(set(variant_wnids("imagenet-a")) - set(variant_wnids("imagenet-r")))
    _write(tmp_path / "a", only_a[:2], 1, rng)
    with pytest.raises(DataFormatError, match="imagenet-a folder"):
        load_imagenet_variant(tmp_path / "a", "imagenet-r")
    assert len(load_imagenet_variant(tmp_path / "a", "imagenet-a", size=8)) == 2
    _write(tmp_path / "named", ["goldfish"], 1, rng)
    with pytest.raises(DataFormatError, match=r"WordNet ids like .n01443537.*goldfish"):
        load_imagenet_variant(tmp_path / "named", "imagenet-r")
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(flat / "x.jpg")
    with pytest.raises(DataFormatError, match="files at the top"):
        load_imagenet_variant(flat, "imagenet-r")
    (tmp_path / "empty" / variant_wnids("imagenet-r")[0]).mkdir(parents=True)
    with pytest.raises(DataFormatError, match="class folder n01443537"):
        load_imagenet_variant(tmp_path / "empty", "imagenet-r")
    with pytest.raises(DataFormatError, match="not a folder"):
        load_imagenet_variant(tmp_path / "nope", "imagenet-r")
    with pytest.raises(UnknownNameError, match="imagenet-r"):
        load_imagenet_variant(tmp_path / "a", "imagenet-sketch")


def test_accuracy_is_restricted_to_the_200_classes(rng) -> None:
    keep = variant_indices("imagenet-a")
    labels = rng.choice(keep, size=50)
    logits = rng.normal(size=(50, 1000))
    logits[:, 0] = 100.0  # class 0 (tench) is not an ImageNet-A class and must be ignored
    best = [keep[np.argmax(row[keep])] for row in logits]  # brute force
    assert variant_accuracy(logits, labels, "imagenet-a") == pytest.approx(
        np.mean(np.array(best) == labels))
    logits[np.arange(50), labels] = 200.0
    assert variant_accuracy(logits, labels, "imagenet-a") == 1.0
    with pytest.raises(ShapeError, match=r"\(N, 1000\)"):
        variant_accuracy(logits[:, :10], labels, "imagenet-a")
    with pytest.raises(DataFormatError, match="not among its 200"):
        variant_accuracy(logits, np.zeros(50, dtype=int), "imagenet-a")
