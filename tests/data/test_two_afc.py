"""TwoAFCSet, the BAPPS folder loader and the soft 2AFC agreement score."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from repalign.data import TwoAFCSet, load_two_afc, two_afc_agreement, two_afc_score
from repalign.errors import ConfigError, DataFormatError, ShapeError


def _write_bapps(root, rng, n=5, size=8):
    arrays = {}
    for part in ("ref", "p0", "p1"):
        (root / part).mkdir(parents=True)
        arrays[part] = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        for i in range(n):
            Image.fromarray(arrays[part][i]).save(root / part / f"{i:06d}.png")
    (root / "judge").mkdir()
    h = rng.random(n)
    for i in range(n):
        np.save(root / "judge" / f"{i:06d}.npy", np.array([h[i]]))
    return arrays, h


def test_agreement_formula_against_loop(rng):
    d0, d1, h = rng.random(50), rng.random(50), rng.random(50)
    d1[:5] = d0[:5]  # ties count half
    expected = [(1 - hh) if a < b else hh if b < a else 0.5 for a, b, hh in zip(d0, d1, h, strict=True)]
    np.testing.assert_allclose(two_afc_agreement(d0, d1, h), expected)
    assert two_afc_score(d0, d1, h) == pytest.approx(np.mean(expected))
    # a distance that always sides with the majority scores the majority's share
    assert two_afc_score([0.0, 1.0], [1.0, 0.0], [0.2, 0.7]) == pytest.approx((0.8 + 0.7) / 2)


def test_load_bapps_folder(tmp_path, rng):
    arrays, h = _write_bapps(tmp_path, rng)
    s = load_two_afc(tmp_path)
    assert len(s) == 5 and s.ids == tuple(f"{i:06d}" for i in range(5))
    assert s.reference.shape == (5, 3, 8, 8) and s.reference.dtype == torch.float32
    np.testing.assert_allclose(s.p1[2].permute(1, 2, 0).numpy(), arrays["p1"][2] / 255.0, atol=1e-7)
    np.testing.assert_allclose(s.h, h)
    assert len(load_two_afc(tmp_path, limit=2)) == 2
    d0 = (s.reference - s.p0).flatten(1).norm(dim=1).numpy()
    d1 = (s.reference - s.p1).flatten(1).norm(dim=1).numpy()
    assert s.score(d0, d1) == two_afc_score(d0, d1, h)


def test_bad_folders(tmp_path, rng):
    _write_bapps(tmp_path / "a", rng)
    (tmp_path / "a" / "p1" / "000003.png").unlink()
    with pytest.raises(DataFormatError, match=r"p1/ and ref/ list different items \(e.g. \['000003'\]\)"):
        load_two_afc(tmp_path / "a")
    _write_bapps(tmp_path / "b", rng)
    (tmp_path / "b" / "p0" / "000001.png").write_bytes(b"not a png")
    with pytest.raises(DataFormatError, match=r"000001.png: not a readable image"):
        load_two_afc(tmp_path / "b")
    _write_bapps(tmp_path / "c", rng)
    np.save(tmp_path / "c" / "judge" / "000000.npy", np.array([1.5]))
    with pytest.raises(DataFormatError, match=r"h is the fraction of raters choosing p1 and must lie in \[0, 1\]"):
        load_two_afc(tmp_path / "c")
    _write_bapps(tmp_path / "f", rng)
    np.save(tmp_path / "f" / "judge" / "000002.npy", np.array([np.nan]))
    with pytest.raises(DataFormatError, match=r"h holds 1 NaN/Inf value\(s\) \(first at item 2\)"):
        load_two_afc(tmp_path / "f")
    np.save(tmp_path / "f" / "judge" / "000002.npy", np.array([]))
    with pytest.raises(DataFormatError, match=r"000002.npy: not a readable judgement"):
        load_two_afc(tmp_path / "f")
    for limit in (0, -1, 2.5):
        with pytest.raises(ConfigError, match=rf"limit \(the number of items to read, or None\) must be an integer of at least 1, received {limit}"):
            load_two_afc(tmp_path / "c", limit=limit)
    (tmp_path / "d").mkdir()
    with pytest.raises(DataFormatError, match=r"ref: missing folder; a BAPPS 2AFC folder holds"):
        load_two_afc(tmp_path / "d")
    _write_bapps(tmp_path / "e", rng)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "e" / "ref" / "000000.png")
    with pytest.raises(DataFormatError, match=r"images have different sizes"):
        load_two_afc(tmp_path / "e")


def test_container_and_score_errors(rng):
    img = torch.rand(3, 3, 4, 4)
    with pytest.raises(ShapeError, match=r"must have the same shape"):
        TwoAFCSet(img, img, img[:2], np.zeros(3))
    with pytest.raises(ShapeError, match=r"h must hold one value per item \(3\)"):
        TwoAFCSet(img, img, img, np.zeros(2))
    with pytest.raises(ShapeError, match=r"must lie in \[0, 1\]"):
        TwoAFCSet(2 * img, img, img, np.zeros(3))
    with pytest.raises(ShapeError, match=r"h must hold numbers"):
        TwoAFCSet(img, img, img, np.array(["a", "b", "c"]))
    with pytest.raises(ShapeError, match=r"h holds 1 NaN/Inf"):
        two_afc_agreement([1.0, 2.0], [2.0, 1.0], [0.5, np.nan])
    with pytest.raises(ShapeError, match=r"d0 and d1 must have the same length"):
        two_afc_agreement([1.0], [1.0, 2.0], [0.5])
    with pytest.raises(ShapeError, match=r"at least one item"):
        two_afc_score([], [], [])
