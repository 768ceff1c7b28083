"""MetamerRecipe: validation, presets as recipes, replace, overrides and the old keywords."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import repalign as ra
from repalign.errors import ConfigError, UnknownNameError
from repalign.metamers import MetamerRecipe, recipes
from repalign.metamers.presets import get_preset, list_presets
from repalign.metamers.resolve import loop_config


def test_presets_are_recipes_with_the_published_values():
    assert list_presets() == ["fast", "feather", "nanda"]
    assert isinstance(recipes.feather, MetamerRecipe) and recipes.feather.name == "feather"
    want = {
        "feather": ("noise", "normalized_gd", 1.0, "halving:blocks=8", 24000, "fixed", "last", 100),
        "nanda": ("gaussian", "normalized_gd", 1.0, "constant", 5000, "fixed", "best", 100),
        "fast": ("other", "adam", 0.1, "cosine", 2000, "criterion", "last", 5),
    }
    for name, values in want.items():
        r = getattr(recipes, name)
        assert (r.init, r.optimizer, r.lr, r.schedule, r.steps, r.stop, r.keep, r.check_every) == values
        assert (r.regularizer, r.parametrization, r.transforms, r.objective) == (
            "none", "pixel", None, "normalized_l2")
        assert (r.criterion, r.precision, r.quantize) == ("spearman", "fp32", True)
        assert get_preset(name)["steps"] == r.steps  # the dict view of earlier versions
    with pytest.raises(UnknownNameError, match="Unknown preset 'fastest'"):
        recipes.fastest  # noqa: B018


def test_replace_makes_a_new_validated_recipe():
    r = recipes.feather.replace(steps=80, optimizer="sgd:momentum=0.5")
    assert (r.steps, r.optimizer, r.name, r.schedule) == (80, "sgd:momentum=0.5", "feather",
                                                          "halving:blocks=8")
    assert recipes.feather.steps == 24000  # unchanged
    with pytest.raises(Exception, match="frozen"):
        r.steps = 3
    assert MetamerRecipe() == recipes.fast.replace(name=None)  # the defaults are `fast`
    assert r.describe()["optimizer"] == "sgd:momentum=0.5"


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"steps": 0}, ConfigError, "steps must be a positive integer, received 0"),
        ({"steps": 2.5}, ConfigError, "steps must be a positive integer"),
        ({"lr": -1.0}, ConfigError, "lr must be a positive number"),
        ({"keep": "first"}, ConfigError, "keep must be 'last' or 'best'"),
        ({"precision": "fp8"}, ConfigError, "precision must be one of"),
        ({"criterion": "kendall"}, ConfigError, "statistic must be one of"),
        ({"criterion": "spearman:q=0.9"}, ConfigError, r"Bad options \['q'\] for the criterion"),
        ({"criterion": "spearman:quantile=1.5"}, ConfigError, r"quantile must be in \(0, 1\]"),
        ({"optimiser": "adam"}, ConfigError, "did you mean 'optimizer'"),
        ({"optimizer": "adamw"}, UnknownNameError, "Unknown optimizer 'adamw'"),
        ({"schedule": "cosin"}, UnknownNameError, "Unknown schedule 'cosin'"),
        ({"init": "noize"}, UnknownNameError, "Unknown init 'noize'"),
    ],
)
def test_invalid_recipes_are_named(change, error, match):
    with pytest.raises(error, match=match):
        recipes.fast.replace(**change)


def test_loop_config_is_frozen_and_built_once(tiny_cnn):
    cfg = loop_config(recipes.fast, torch.rand(1, 3, 16, 16), combine="mean", quiet=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 1  # type: ignore[misc]


def test_recipe_argument_equals_the_keyword_overrides(tiny_cnn, images, null):
    kw = {"layers": "3", "null_stimuli": null, "quiet": True, "batch_size": 2}
    rec = recipes.feather.replace(steps=40, check_every=10)
    before = rec.fields()
    a = ra.generate_metamers(tiny_cnn, images[:3], recipe=rec, **kw)
    b = ra.generate_metamers(tiny_cnn, images[:3], preset="feather", steps=40, check_every=10, **kw)
    c = ra.generate_metamers(tiny_cnn, images[:3], recipe="feather", steps=40, check_every=10, **kw)
    assert rec.fields() == before  # generation never changes the recipe
    for other in (b, c):
        torch.testing.assert_close(a.images, other.images, rtol=0, atol=0)
    assert a.config["preset"] == "feather" and a.config["recipe"]["steps"] == 40
    with pytest.raises(ConfigError, match="preset= is the old spelling of recipe="):
        ra.generate_metamers(tiny_cnn, images[:3], recipe=rec, preset="nanda", **kw)


def test_readme_call_still_works():
    """README's quick start: positional model list and images, layers=, null_stimuli=."""
    stim = ra.load_stimuli("bundled:digits")
    b = ra.create_model("zoo:cnn_standard_s0")
    res = ra.generate_metamers([b], stim.images[:2], layers="block2", null_stimuli=stim.images,
                               steps=10, quiet=True)
    assert len(res) == 2 and res.config["preset"] == "fast" and res.config["steps"] == 10


def test_old_criterion_keywords_enter_the_criterion_spec(tiny_cnn, images, null):
    kw = {"layers": "3", "null_stimuli": null, "quiet": True, "steps": 20, "stop": "fixed"}
    old = ra.generate_metamers(tiny_cnn, images[:3], statistic="pearson", quantile=0.5,
                               same_label=True, null_pairs=100, **kw)
    new = ra.generate_metamers(
        tiny_cnn, images[:3], criterion="pearson:quantile=0.5,same_label=true,null_pairs=100", **kw)
    assert old.config["thresholds"] == new.config["thresholds"]
    assert (old.config["statistic"], old.config["quantile"], old.config["same_label"],
            old.config["null_pairs"]) == ("pearson", 0.5, "predicted", 100)
    np.testing.assert_array_equal(old.success, new.success)
    torch.testing.assert_close(old.images, new.images, rtol=0, atol=0)


def test_old_keywords_that_changed_name_the_new_spelling(tiny_cnn, images, null):
    kw = {"layers": "3", "null_stimuli": null, "quiet": True}
    with pytest.raises(ConfigError, match="old spelling of precision='bf16'"):
        ra.generate_metamers(tiny_cnn, images, amp=True, device="cpu", **kw)
    with pytest.raises(ConfigError, match=r"unknown option.*'optimiser' \(did you mean 'optimizer'"):
        ra.generate_metamers(tiny_cnn, images, optimiser="adam", **kw)
    with pytest.raises(ConfigError, match="did you mean 'check_every'"):
        ra.generate_metamers(tiny_cnn, images, check_evry=3, **kw)
    # amp=False (the old default, passed explicitly by scripts) changes nothing
    res = ra.generate_metamers(tiny_cnn, images[:2], amp=False, steps=3, **kw)
    assert res.config["precision"] == "fp32"
