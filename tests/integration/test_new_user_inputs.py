"""Four bad inputs a new user hit: each stops at the boundary with a named error that says what
was expected and what was received (not deep inside torch or pandas)."""

from __future__ import annotations

import pytest

import repalign as ra
from repalign.data.triplets import load_triplets
from repalign.errors import ConfigError, DataFormatError, ShapeError, SpecError
from repalign.specs import parse_spec


@pytest.fixture(scope="module")
def tiny():
    model = ra.create_model("zoo:cnn_standard_s0")
    images = ra.load_stimuli("bundled:digits").images[:2]
    return model, images


def test_nan_learning_rate_is_refused_before_the_optimizer(tiny):
    model, images = tiny
    with pytest.raises(ConfigError, match=r"lr must be a positive number, received nan"):
        ra.generate_metamers([model], images, layers=model.layers()[1], steps=2, lr=float("nan"),
                             quiet=True)


def test_empty_metamer_targets_are_refused(tiny):
    model, images = tiny
    with pytest.raises(ShapeError, match=r"targets is empty.*shape \(0, 1, 32, 32\)"):
        ra.generate_metamers([model], images[:0], layers=model.layers()[1], steps=2, quiet=True)


def test_a_doubled_equals_sign_in_a_spec_is_refused():
    with pytest.raises(SpecError, match="expected a value") as info:
        parse_spec("jitter:d==")
    assert info.value.position == 9  # the second '='
    with pytest.raises(SpecError):
        ra.metamers.transforms.build_transforms("jitter:d==")


@pytest.mark.parametrize(("text", "where"), [
    ("1 2 3\n4 x 6\n", "line 2, column 2: 'x'"),
    ("1 x 3\n", "line 1, column 2: 'x'"),  # was taken for a header, then "a non-empty table"
    ("a,b,c\n1,2,3\n4,5,six\n", "line 3, column 3: 'six'"),
])
def test_a_non_numeric_triplet_cell_is_named(tmp_path, text, where):
    path = tmp_path / ("t.csv" if "," in text else "t.txt")
    path.write_text(text)
    with pytest.raises(DataFormatError, match=rf"{where} is not a number"):
        load_triplets(path, index_base=1)
    good = tmp_path / "good.txt"
    good.write_text("1 2 3\n4 5 6\n")
    assert load_triplets(good, index_base=1).triplets.shape == (2, 3)
