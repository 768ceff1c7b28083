"""Zoo architectures, attacks and training: shapes, residuals, PGD balls, falling losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from repalign.errors import ConfigError, UnknownNameError
from repalign.models.zoo import (
    ARCHITECTURES,
    STYLES,
    TrainConfig,
    as_config,
    build_network,
    layer_roles,
    pgd,
    pgd_attack,
    robust_accuracy,
)
from repalign.models.zoo.architectures import BasicBlock
from repalign.models.zoo.attacks import accuracy
from repalign.models.zoo.contrastive import nt_xent
from repalign.models.zoo.training import (
    DigitsTensors,
    digits_tensors,
    epsilon_schedule,
    fit_supervised,
    make_model,
    train_model,
)


@pytest.fixture(autouse=True)
def one_thread():
    """These networks are tiny: one thread is faster than several on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small_digits() -> DigitsTensors:
    d = digits_tensors()
    g = torch.Generator().manual_seed(0)
    tr = torch.randperm(len(d.y_train), generator=g)[:160]
    return DigitsTensors(d.x_train[tr], d.y_train[tr], d.x_test[:80], d.y_test[:80])


def test_every_registered_architecture_is_a_config_choice() -> None:
    assert ARCHITECTURES.list() == ["cnn", "mlp", "resnet"]
    for arch in ARCHITECTURES.list():
        assert TrainConfig(arch=arch).arch == arch  # type: ignore[arg-type]


@pytest.mark.parametrize("arch", ARCHITECTURES.list())
def test_architecture_shapes_and_layer_roles(arch: str) -> None:
    cfg = TrainConfig(arch=arch)  # type: ignore[arg-type]
    model = make_model(cfg, "x")
    x = torch.rand(3, 1, 32, 32)
    assert model(x).shape == (3, 5)
    roles = layer_roles(arch, int(cfg.depth or 0))
    assert set(roles.values()) <= set(model.layers())
    feats = model.features(x, model.meta["default_layers"])
    pen = feats[model.meta["penultimate"]]
    assert pen.ndim == 2 and pen.shape[1] == model.network.head.in_features
    assert len(model.meta["default_layers"]) == 3
    assert sum(p.numel() for p in model.parameters()) < 30_000


def test_width_depth_change_the_network() -> None:
    small = build_network("cnn", width=4, depth=2)
    big = build_network("cnn", width=8, depth=4)
    assert "block4" in dict(big.named_children()) and "block3" not in dict(small.named_children())
    n = [sum(p.numel() for p in m.parameters()) for m in (small, big)]
    assert n[0] < n[1]
    assert build_network("mlp", width=7, depth=2).fc2.out_features == 7
    with pytest.raises(ConfigError, match="depth"):
        build_network("resnet", width=8, depth=9)
    with pytest.raises(UnknownNameError, match="resnet"):
        build_network("resnett")


def test_resnet_block_is_residual() -> None:
    torch.manual_seed(0)
    block = BasicBlock(4, 4).eval()
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        block.bn2.weight.zero_()
        block.bn2.bias.zero_()  # the residual branch outputs 0: the block is relu(identity)
    torch.testing.assert_close(block(x), F.relu(x))


def test_config_defaults_and_errors() -> None:
    cfg = TrainConfig(arch="mlp", style="pgd_l2")
    assert (cfg.norm, cfg.epsilon, cfg.width, cfg.depth) == ("l2", 2.0, 64, 3)
    assert TrainConfig(arch="cnn", style="trades", norm="l2").epsilon == 2.0
    assert TrainConfig(**cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="not adversarial"):
        as_config({"arch": "mlp", "style": "standard", "epsilon": 0.1})
    with pytest.raises(ConfigError, match="implies norm='l2'"):
        as_config({"arch": "mlp", "style": "pgd_l2", "norm": "linf"})
    with pytest.raises(ConfigError, match="style"):
        as_config({"arch": "mlp", "style": "magic"})
    with pytest.raises(ConfigError, match="arch"):
        as_config({"arch": "vit"})


def test_epsilon_ramp() -> None:
    cfg = TrainConfig(arch="mlp", style="pgd_linf", epsilon=0.2, epochs=10, eps_warmup=0.3)
    ramp = [epsilon_schedule(cfg, e) for e in range(10)]
    assert ramp[0] == pytest.approx(0.2 / 3) and ramp[2:] == [pytest.approx(0.2)] * 8


# -- attacks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_stays_in_ball_and_box_and_raises_loss(norm: str, small_digits: DigitsTensors) -> None:
    model = make_model(TrainConfig(arch="cnn"), "x").eval()
    x, y = small_digits.x_test[:32], small_digits.y_test[:32]
    eps = 0.1 if norm == "linf" else 1.0
    adv = pgd_attack(model, x, y, eps=eps, norm=norm, steps=10,
                     generator=torch.Generator().manual_seed(0))
    delta = (adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert float(size.max()) <= eps + 1e-5
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    with torch.no_grad():
        assert F.cross_entropy(model(adv), y) > F.cross_entropy(model(x), y)
    assert not any(p.grad is not None for p in model.parameters())


def test_pgd_finds_the_analytic_optimum_of_a_linear_model() -> None:
    # two-class linear model: CE of class 0 grows fastest along w1 - w0; the Linf optimum is
    # x + eps * sign(w1 - w0), the L2 optimum x + eps * (w1 - w0) / ||w1 - w0||
    torch.manual_seed(0)
    lin = nn.Linear(16, 2)
    net = nn.Sequential(nn.Flatten(), lin)
    x = 0.3 + 0.4 * torch.rand(4, 1, 4, 4)  # interior: the [0, 1] box never binds
    y = torch.zeros(4, dtype=torch.long)
    d = (lin.weight[1] - lin.weight[0]).detach().view(1, 1, 4, 4)
    adv = pgd_attack(net, x, y, eps=0.05, norm="linf", steps=5, random_start=False)
    torch.testing.assert_close(adv, x + 0.05 * d.sign())
    adv2 = pgd_attack(net, x, y, eps=0.2, norm="l2", steps=20, step_size=0.05,
                      random_start=False)
    torch.testing.assert_close(adv2, x + 0.2 * d / d.norm(), atol=1e-5, rtol=0)


def test_pgd_edge_cases() -> None:
    x = torch.rand(2, 1, 4, 4)
    assert torch.equal(pgd(lambda t: t.sum(), x, eps=0.0), x)
    a = pgd(lambda t: (t ** 2).sum(), x, eps=0.1, generator=torch.Generator().manual_seed(3))
    b = pgd(lambda t: (t ** 2).sum(), x, eps=0.1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="norm"):
        pgd(lambda t: t.sum(), x, eps=0.1, norm="l1")
    with pytest.raises(ConfigError, match="eps"):
        pgd(lambda t: t.sum(), x, eps=-1.0)


def test_robust_accuracy_bounded_by_clean(small_digits: DigitsTensors) -> None:
    model = make_model(TrainConfig(arch="mlp", width=16, depth=1), "x").eval()
    x, y = small_digits.x_test, small_digits.y_test
    clean = accuracy(model, x, y)
    assert robust_accuracy(model, x, y, eps=0.0) == clean
    assert robust_accuracy(model, x, y, eps=0.3, norm="linf", steps=5) <= clean


def test_nt_xent_matches_direct_formula() -> None:
    torch.manual_seed(0)
    z1, z2, t = torch.randn(3, 4), torch.randn(3, 4), 0.5
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    total = 0.0
    for i in range(6):
        pos = (i + 3) % 6
        sims = [float(z[i] @ z[k]) / t for k in range(6) if k != i]
        total += -float(z[i] @ z[pos]) / t + float(torch.logsumexp(torch.tensor(sims), 0))
    assert float(nt_xent(z1, z2, t)) == pytest.approx(total / 6, rel=1e-5)


# -- training ----------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["mlp", "cnn", "resnet"])
def test_each_architecture_loss_falls(arch: str, small_digits: DigitsTensors) -> None:
    cfg = TrainConfig(arch=arch, epochs=6, batch_size=32,  # type: ignore[arg-type]
                      augmentation="none")
    torch.manual_seed(0)
    model = make_model(cfg, "x")
    history = fit_supervised(model, cfg, small_digits.x_train, small_digits.y_train,
                             torch.Generator().manual_seed(0))
    assert history[-1] < 0.75 * history[0]


@pytest.mark.parametrize("style", [s for s in STYLES if s != "standard"])
def test_every_style_trains(style: str, small_digits: DigitsTensors) -> None:
    cfg = {"arch": "mlp", "width": 32, "depth": 1, "style": style, "epochs": 3,
           "attack_steps": 2, "head_epochs": 10}
    model = train_model(cfg, f"tiny_{style}", data=small_digits)
    loss = model.meta["train_loss"]
    assert loss[-1] < loss[0]
    assert model.meta["clean_acc"] > 0.5  # chance is 0.2
    assert model.meta["style"] == style and model.meta["epsilon"] == model.meta["config"]["epsilon"]


def test_training_is_bit_identical_and_seed_dependent(small_digits: DigitsTensors) -> None:
    cfg = {"arch": "cnn", "width": 4, "depth": 2, "style": "pgd_linf", "epochs": 2,
           "attack_steps": 2}
    a = train_model(cfg, data=small_digits)
    b = train_model(cfg, data=small_digits)
    c = train_model({**cfg, "seed": 1}, data=small_digits)
    assert a.meta["weights_sha256"] == b.meta["weights_sha256"] == a.weights_sha256()
    assert c.meta["weights_sha256"] != a.meta["weights_sha256"]
    assert torch.get_num_threads() >= 1  # the single-thread block restored the setting
