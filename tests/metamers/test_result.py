import numpy as np
import pytest
import torch
from PIL import Image

from repalign.errors import DataFormatError, ShapeError
from repalign.metamers.result import MetamerResult


def _result(m=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return MetamerResult(
        images=torch.rand(m, 1, 8, 8, generator=g),
        seeds=torch.rand(m, 1, 8, 8, generator=g),
        targets=torch.rand(m, 1, 8, 8, generator=g),
        target_ids=[f"t{i // 2}" for i in range(m)],
        target_labels=np.arange(m) % 3,
        generators=["zoo:a"] * m,
        layers=["l1"] * m,
        inits=["noise"] * m,
        regularizers=["none"] * m,
        optimizers=["adam"] * m,
        repeats=np.arange(m) % 2,
        final_distance=np.linspace(0, 1, m),
        success=np.arange(m) % 2 == 0,
        steps_to_success=np.where(np.arange(m) % 2 == 0, 10, -1),
        history={"step": np.arange(3), "loss": np.ones((3, m))},
        wall_time=1.5,
        config={"steps": 3},
    )


def test_save_load_roundtrip(tmp_path):
    r = _result()
    r.save(tmp_path / "r")
    assert len(list((tmp_path / "r" / "png").glob("*.png"))) == 3 * len(r)
    back = MetamerResult.load(tmp_path / "r")
    for name in ("images", "seeds", "targets"):
        torch.testing.assert_close(getattr(back, name), getattr(r, name), atol=0, rtol=0)
    assert back.wall_time == 1.5 and back.history["step"].tolist() == [0, 1, 2]
    # the PNGs hold the 8-bit images (rounded), one grey channel here
    for i in range(len(r)):
        for name, tag in (("images", "metamer"), ("seeds", "seed"), ("targets", "target")):
            png = np.asarray(Image.open(tmp_path / "r" / "png" / f"{i:05d}_{tag}.png"))
            want = np.round(getattr(r, name)[i, 0].numpy() * 255).astype(np.uint8)
            np.testing.assert_array_equal(png, want)
    pd_a, pd_b = r.table(), back.table()
    assert pd_a.equals(pd_b)
    np.testing.assert_array_equal(back.history["loss"], r.history["loss"])
    assert back.config == {"steps": 3}


def test_subset_and_concat():
    r = _result()
    s = r.subset(r.success)
    assert len(s) == 2 and s.success.all() and s.history["loss"].shape == (3, 2)
    c = MetamerResult.concat([r, _result(seed=1)])
    assert len(c) == 8 and c.history["loss"].shape == (3, 8)


def test_bad_inputs():
    r = _result()
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        MetamerResult(**{**r.__dict__, "images": r.images * 3})
    with pytest.raises(ShapeError, match="layers has 3 entries, expected 4"):
        MetamerResult(**{**r.__dict__, "layers": ["a"] * 3})


def test_load_missing(tmp_path):
    with pytest.raises(DataFormatError, match=r"expected result.npz and result.json"):
        MetamerResult.load(tmp_path)
