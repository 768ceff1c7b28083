"""The one spec grammar: errors that point at the character, and every example of docs/specs.md
parsing to a registered name with options the entry takes (round trips: test_specs_properties)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from repalign.errors import ConfigError, SpecError, UnknownNameError
from repalign.metamers import inits, optimizers, parametrizations, regularizers, schedules, stopping
from repalign.metamers import transforms as T
from repalign.metamers._spec import check_options
from repalign.perceptual.registry import DISTANCES, get_distance
from repalign.specs import Spec, format_spec, format_value, parse_spec, parse_value, split_spec

DOCS = Path(__file__).resolve().parents[1] / "docs"

def test_the_issue_cases():
    assert parse_spec("jitter:d=[1,2]") == Spec("jitter", {"d": [1, 2]})
    assert split_spec("lp_norm:p=6,weight=1e-3") == ("lp_norm", {"p": 6, "weight": 0.001})
    assert parse_spec("lpips:alex").name == "lpips:alex"
    assert parse_spec("model:zoo:cnn_l2_s0@features.4+features.7").options == {}
    assert parse_spec('x:s="a, b=c",t=True,u=NONE,v=1.5e3,w=abc').options == {
        "s": "a, b=c", "t": True, "u": None, "v": 1500.0, "w": "abc"}
    assert math.isinf(parse_value("-inf"))
    assert parse_spec("mean(ssim, mean(pixel_l2)):levels=1") == Spec(
        "mean", {"levels": 1}, (Spec("ssim"), Spec("mean", {}, (Spec("pixel_l2"),))))
    assert format_value("1") == '"1"' and format_value("true") == '"true"'  # strings stay strings


@pytest.mark.parametrize(("text", "position", "expected"), [
    ("jitter:d==", 9, "a value"),
    ("jitter:", 7, "a name or key=value"),
    ("a:b=1,b=2", 6, "a new option name"),
    ("mean(ssim,)", 10, "a name"),
    ("mean(ssim", 9, "',' or ')'"),
    ("x:y=[1,2", 8, "',' or ']'"),
    ('x:y="abc', 8, "a closing"),
    ("x:y=1 z", 6, "the end of the spec"),
    ("x:y=2,3", 5, "the end of the spec"),
    ("x:y=(", 4, "a value"),
    ("", 0, "a name"),
])
def test_errors_point_at_the_offending_character(text, position, expected):
    with pytest.raises(SpecError) as info:
        parse_spec(text, "transform")
    err = info.value
    assert isinstance(err, ConfigError)
    assert (err.position, err.spec) == (position, text)
    assert expected in err.expected
    lines = str(err).splitlines()
    assert lines[1] == "  " + text and lines[2] == "  " + " " * position + "^"
    assert "transform spec" in lines[0]


def test_every_piece_reads_the_grammar():
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with pytest.raises(SpecError, match="character 13"):
        inits.make_seeds("blend:alpha==", x)
    with pytest.raises(SpecError, match="transform spec"):
        T.build_transforms("jitter:d==")
    with pytest.raises(SpecError, match="perceptual distance spec"):
        get_distance("ssim:win_size=")
    seeds = inits.make_seeds("blend:alpha = 0.25", x, seed=1)
    torch.testing.assert_close(seeds, inits.make_seeds(("blend", {"alpha": 0.25}), x, seed=1))


# -- the documented examples ----------------------------------------------------------------
_REGISTRIES = {
    "init": inits.INITS, "transform": T.TRANSFORMS, "optimizer": optimizers.OPTIMIZERS,
    "schedule": schedules.SCHEDULES, "stop": stopping.STOPS,
    "parametrization": parametrizations.PARAMETRIZATIONS, "regularizer": regularizers.REGULARIZERS,
}


def _examples() -> list[tuple[str, str]]:
    rows = re.findall(r"^\| ([a-z ]+) \| `([^`]+)` \|", (DOCS / "specs.md").read_text(), re.M)
    assert len(rows) >= 15
    return rows


@pytest.mark.parametrize(("registry", "text"), _examples())
def test_documented_examples_parse_and_name_registered_entries(registry, text):
    spec = parse_spec(text)
    assert format_spec(parse_spec(format_spec(spec))) == format_spec(spec)
    if registry == "perceptual distance":
        names = [p.name for p in spec.parts] or [spec.name]
        for name in names:
            assert name in DISTANCES or name.startswith("model:")
        if not any(n.startswith(("lpips", "model")) for n in names):
            get_distance(text)  # built: the options are understood
        return
    name, options = split_spec(text)
    reg = _REGISTRIES[registry]
    assert name in reg
    if registry == "regularizer":
        options.pop("weight", None)
        check_options(reg.get(name), registry, name, torch.zeros(1, 1, 4, 4), **options)
    elif registry in ("schedule", "stop"):
        check_options(reg.get(name), registry, name, 10, **options)
    elif registry == "init":
        check_options(reg.get(name), registry, name, torch.zeros(1), torch.Generator(), **options)
    elif registry == "transform":
        check_options(reg.get(name), registry, name, **options)


def test_spec_strings_in_the_other_docs_parse():
    """Inline code in the docs that looks like 'name:key=value' is a spec of this grammar."""
    found = []
    for page in DOCS.glob("*.md"):
        for text in re.findall(r"`\"?([a-z_]+(?::[a-z_]+)*:[a-z_]+=[^`\"]*)\"?`", page.read_text()):
            found.append(text)
            parse_spec(text)
    assert len(found) >= 10


def test_unknown_name_after_a_colon_suggests_the_entry():
    with pytest.raises(UnknownNameError, match="Did you mean 'blend'"):
        inits.make_seeds("blend:alpha", torch.rand(1, 1, 4, 4))
