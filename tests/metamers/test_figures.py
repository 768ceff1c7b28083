import numpy as np
import pytest
import torch
from PIL import Image

from repalign.errors import ShapeError
from repalign.metamers.figures import plot_metamers, recipe_columns
from repalign.metamers.result import MetamerResult


def _result(layers, regs, seeds_differ=False, channels=1):
    m = len(layers)
    g = torch.Generator().manual_seed(0)
    targets = torch.rand(2, channels, 8, 8, generator=g)
    seeds = torch.rand(m, channels, 8, 8, generator=g) if seeds_differ else torch.rand(
        2, channels, 8, 8, generator=g).repeat(m // 2, 1, 1, 1)
    return MetamerResult(
        images=torch.rand(m, channels, 8, 8, generator=g), seeds=seeds,
        targets=targets.repeat(m // 2, 1, 1, 1),
        target_ids=["a", "b"] * (m // 2), target_labels=np.zeros(m, int),
        generators=["zoo:x"] * m, layers=layers, inits=["noise"] * m, regularizers=regs,
        optimizers=["adam"] * m, repeats=np.zeros(m, int), final_distance=np.linspace(0, 1, m),
        success=np.arange(m) % 2 == 0, steps_to_success=np.full(m, 5),
    )


def test_grid_per_layer_and_regularizer(tmp_path):
    res = _result(["l1", "l1", "l2", "l2", "l2", "l2"], ["none"] * 4 + ["adversarial"] * 2)
    assert recipe_columns(res) == [("l1", "none", "zoo:x", "noise"), ("l2", "none", "zoo:x", "noise"),
                                   ("l2", "adversarial", "zoo:x", "noise")]
    fig = plot_metamers(res, path=tmp_path / "grid")
    axes = fig.get_axes()
    assert len(axes) == 2 * (2 + 3)  # 2 targets x (target, seed, 3 recipes)
    titles = [a.get_title() for a in axes]
    assert titles[:5] == ["a", "seed", "l1\nnone\npass d=0.000", "l2\nnone\npass d=0.400",
                          "l2\nadversarial\npass d=0.800"]
    with Image.open(tmp_path / "grid.png") as img:
        assert img.size[0] > img.size[1] > 100
    assert (tmp_path / "grid.svg").read_text().lstrip().startswith("<?xml")


def test_grid_with_seed_per_recipe_and_rgb():
    res = _result(["l1", "l1", "l2", "l2"], ["none"] * 4, seeds_differ=True, channels=3)
    fig = plot_metamers(res, targets=["b"])
    assert len(fig.get_axes()) == 1 + 2 * 2  # target, then seed + metamer per recipe
    with pytest.raises(ShapeError, match="not in the result"):
        plot_metamers(res, targets=["zzz"])
