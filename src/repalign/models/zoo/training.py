"""Train one zoo model from a :class:`TrainConfig` on digit classes 0-4 and measure it.

Styles: ``standard`` (cross-entropy), ``pgd_l2``/``pgd_linf`` (Madry: cross-entropy on PGD
examples), ``trades`` (Zhang et al.: clean cross-entropy + beta x KL(clean || adversarial)),
``simclr``/``simclr_adv`` (see :mod:`repalign.models.zoo.contrastive`). Everything random
(initialisation, data order, augmentation, attack starts) derives from ``config.seed``, so the
same config on the same machine and thread count gives bit-identical weights.

After training, the weights are rounded to float16 (the storage precision of checkpoints) and the
clean and robust test accuracies are measured on the rounded weights, so a loaded checkpoint
reproduces its stored accuracies exactly.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

import repalign
from repalign._progress import progress
from repalign.models.model import Model, Preprocess
from repalign.models.zoo.architectures import build_network, layer_roles
from repalign.models.zoo.attacks import accuracy, pgd, pgd_attack, robust_accuracy
from repalign.models.zoo.augment import augment
from repalign.models.zoo.config import EPSILON, EVAL_STEPS, TrainConfig, as_config

__all__ = [
    "DIGITS_MEAN",
    "DIGITS_STD",
    "INPUT_SIZE",
    "DigitsTensors",
    "digits_tensors",
    "evaluate",
    "make_model",
    "single_thread",
    "train_model",
]

logger = logging.getLogger(__name__)

INPUT_SIZE = (1, 32, 32)
NUM_CLASSES = 5
#: normalisation inside every zoo model (rounded mean and sd of the training split's pixels)
DIGITS_MEAN, DIGITS_STD = 0.3, 0.33


@dataclass(frozen=True)
class DigitsTensors:
    """The fixed digits split (classes 0-4) as tensors: images (N, 1, 32, 32), labels (N,)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def to(self, device: torch.device | str) -> DigitsTensors:
        return DigitsTensors(*(t.to(device) for t in (self.x_train, self.y_train, self.x_test,
                                                      self.y_test)))


def digits_tensors() -> DigitsTensors:
    """Training and test tensors of :func:`repalign.data.bundled.digits_split` (32x32)."""
    from repalign.data.bundled import digits_split

    split = digits_split()
    assert split.train.labels is not None and split.test.labels is not None
    return DigitsTensors(
        split.train.images, torch.from_numpy(split.train.labels),
        split.test.images, torch.from_numpy(split.test.labels),
    )


def make_model(cfg: TrainConfig, name: str, meta: dict[str, Any] | None = None,
               state_dict: dict[str, torch.Tensor] | None = None) -> Model:
    """Build the architecture of ``cfg`` (random init, or ``state_dict``) wrapped as a Model."""
    network = build_network(cfg.arch, width=int(cfg.width or 1), depth=int(cfg.depth or 1),
                            in_channels=INPUT_SIZE[0], num_classes=NUM_CLASSES,
                            input_hw=INPUT_SIZE[1])
    if state_dict is not None:
        network.load_state_dict(state_dict)
    roles = layer_roles(cfg.arch, int(cfg.depth or 1))
    base = {
        "source": "zoo",
        "name": name,
        "architecture": cfg.arch,
        "style": cfg.style,
        "norm": cfg.norm,
        "epsilon": cfg.epsilon,
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "default_layers": list(dict.fromkeys(roles.values())),
        "penultimate": roles["penultimate"],
        "classes": list(range(NUM_CLASSES)),
    }
    return Model(network, Preprocess([DIGITS_MEAN], [DIGITS_STD], size=INPUT_SIZE[1:]),
                 spec=f"zoo:{name}", input_size=INPUT_SIZE, meta={**base, **(meta or {})})


LossFn = Callable[[Model, torch.Tensor, torch.Tensor, torch.Generator, float], torch.Tensor]


def _supervised_loss(cfg: TrainConfig) -> LossFn:
    """The batch loss of a supervised style: ``loss(model, x, y, generator, eps)``."""
    smooth = cfg.label_smoothing

    def standard(model: Model, xb: torch.Tensor, yb: torch.Tensor, g: torch.Generator,
                 eps: float) -> torch.Tensor:
        return F.cross_entropy(model(xb), yb, label_smoothing=smooth)

    def madry(model: Model, xb: torch.Tensor, yb: torch.Tensor, g: torch.Generator,
              eps: float) -> torch.Tensor:
        model.eval()
        adv = pgd_attack(model, xb, yb, eps=eps, norm=str(cfg.norm), steps=cfg.attack_steps,
                         generator=g)
        model.train()
        return F.cross_entropy(model(adv), yb, label_smoothing=smooth)

    def trades(model: Model, xb: torch.Tensor, yb: torch.Tensor, g: torch.Generator,
               eps: float) -> torch.Tensor:
        model.eval()
        with torch.no_grad():
            p_clean = F.softmax(model(xb), dim=1)

        def kl_sum(xa: torch.Tensor) -> torch.Tensor:
            return F.kl_div(F.log_softmax(model(xa), dim=1), p_clean, reduction="sum")

        adv = pgd(kl_sum, xb, eps=eps, norm=str(cfg.norm), steps=cfg.attack_steps, generator=g)
        model.train()
        logits = model(xb)
        robust = F.kl_div(F.log_softmax(model(adv), dim=1), F.softmax(logits, dim=1),
                          reduction="batchmean")
        return F.cross_entropy(logits, yb, label_smoothing=smooth) + cfg.trades_beta * robust

    return {"standard": standard, "pgd_l2": madry, "pgd_linf": madry, "trades": trades}[cfg.style]


def epsilon_schedule(cfg: TrainConfig, epoch: int) -> float:
    """Attack radius at ``epoch``: a linear ramp over the first ``eps_warmup`` share of epochs.

    Starting adversarial training at the full radius can collapse a small network to a constant
    prediction; the ramp avoids it.
    """
    if cfg.epsilon is None:
        return 0.0
    ramp = max(1, round(cfg.eps_warmup * cfg.epochs))
    return float(cfg.epsilon) * min(1.0, (epoch + 1) / ramp)


def make_optimizer(params: Iterable[torch.nn.Parameter], cfg: TrainConfig, n_items: int
                   ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Adam with a one-cycle schedule over ``cfg.epochs`` passes of ``n_items`` items."""
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * -(-n_items // cfg.batch_size)
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)


def optimizer_step(opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LRScheduler,
                   loss: torch.Tensor) -> float:
    """One update (zero grads, backward, step, schedule); returns the loss value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    return loss.item()


def fit_supervised(model: Model, cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor,
                   generator: torch.Generator, *, quiet: bool = True) -> list[float]:
    """Train ``model`` in place with Adam and a one-cycle schedule; returns the loss per epoch."""
    loss_fn = _supervised_loss(cfg)
    opt, sched = make_optimizer(model.parameters(), cfg, len(x))
    history = []
    for epoch in progress(range(cfg.epochs), quiet=quiet, desc=f"{cfg.arch} {cfg.style}"):
        eps = epsilon_schedule(cfg, epoch)
        model.train()
        perm = torch.randperm(len(x), generator=generator).to(x.device)
        total = 0.0
        for i in range(0, len(x), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            xb = augment(x[idx], cfg.augmentation, generator)
            loss = loss_fn(model, xb, y[idx], generator, eps)
            total += optimizer_step(opt, sched, loss) * len(idx)
        history.append(total / len(x))
    model.eval()
    return history


def round_to_float16(model: Model) -> None:
    """Round floating parameters and buffers to float16 precision, in place (dtype kept)."""
    with torch.no_grad():
        for t in [*model.network.parameters(), *model.network.buffers()]:
            if t.is_floating_point():
                t.copy_(t.half().to(t.dtype))


def evaluate(model: Model, x: torch.Tensor, y: torch.Tensor, *, steps: int = EVAL_STEPS
             ) -> dict[str, float]:
    """Clean accuracy and PGD robust accuracy at the default L2 and Linf radii.

    Returns:
        ``{"clean_acc", "robust_acc_l2", "robust_acc_linf"}`` (fractions in [0, 1]).
    """
    model.eval()
    return {
        "clean_acc": accuracy(model, x, y),
        "robust_acc_l2": robust_accuracy(model, x, y, eps=EPSILON["l2"], norm="l2", steps=steps),
        "robust_acc_linf": robust_accuracy(model, x, y, eps=EPSILON["linf"], norm="linf",
                                           steps=steps),
    }


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one CPU thread inside the block (restored after).

    The zoo's networks are so small that one thread is faster than several (no synchronisation),
    and the result no longer depends on the machine's core count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_model(
    config: TrainConfig | dict[str, Any],
    name: str | None = None,
    *,
    data: DigitsTensors | None = None,
    device: str | torch.device = "cpu",
    quiet: bool = True,
) -> Model:
    """Train one zoo model on digit classes 0-4 and measure it on the fixed test split.

    Args:
        config: a :class:`TrainConfig` or a dict of its fields.
        name: the model's name (default ``"<arch>_<style>_s<seed>"``).
        data: training/test tensors (default :func:`digits_tensors`).
        device: where to train; ``"cpu"`` (the default) reproduces the shipped checkpoints.
        quiet: hide the progress bar.

    Returns:
        The trained :class:`~repalign.models.model.Model` in eval mode (weights rounded to float16
        precision) whose ``meta`` holds the config, accuracies, training time and weights sha256.

    Example:
        >>> m = train_model({"arch": "mlp", "width": 16, "depth": 1, "epochs": 1})  # doctest: +SKIP
        >>> sorted(m.meta)[:3]                                                       # doctest: +SKIP
        ['architecture', 'classes', 'clean_acc']
    """
    from repalign._device import resolve_device

    cfg = as_config(config)
    dev = resolve_device(device)
    name = name or f"{cfg.arch}_{cfg.style}_s{cfg.seed}"
    data = (data or digits_tensors()).to(dev)
    with single_thread():
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = make_model(cfg, name).to(dev)
        generator = torch.Generator().manual_seed(10_000 + cfg.seed)
        if cfg.style in ("simclr", "simclr_adv"):
            from repalign.models.zoo.contrastive import fit_contrastive

            history = fit_contrastive(model, cfg, data.x_train, data.y_train, generator,
                                      quiet=quiet)
        else:
            history = fit_supervised(model, cfg, data.x_train, data.y_train, generator,
                                     quiet=quiet)
        train_time = time.perf_counter() - start
        round_to_float16(model)
        metrics = evaluate(model, data.x_test, data.y_test)
    model.meta.update(
        **metrics,
        eval={"eps_l2": EPSILON["l2"], "eps_linf": EPSILON["linf"], "pgd_steps": EVAL_STEPS,
              "test_images": len(data.y_test)},
        train_loss=[round(v, 6) for v in history],
        train_time_s=round(train_time, 3),
        train_device=str(dev),
        num_params=sum(p.numel() for p in model.network.parameters()),
        weights_sha256=model.weights_sha256(),
        versions={"repalign": repalign.__version__, "torch": torch.__version__,
                  "python": platform.python_version()},
        torch_threads=1,
    )
    logger.info("trained %s in %.1fs: clean %.3f", name, train_time, metrics["clean_acc"])
    return model.eval()
