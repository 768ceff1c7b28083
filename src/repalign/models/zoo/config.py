"""Training configuration of a zoo model and the built-in zoo's configurations.

:class:`TrainConfig` covers everything the zoo and the sweep vary: architecture, width, depth,
training style, adversarial norm and epsilon, epochs, augmentation, label smoothing, seed. Its
validator fills every default that depends on another field (a pgd_l2 model gets ``norm="l2"``
and ``epsilon=EPSILON["l2"]``), so a stored config is always fully explicit.

Example:
    >>> cfg = TrainConfig(arch="cnn", style="pgd_linf", seed=1)
    >>> cfg.norm, cfg.epsilon, cfg.width
    ('linf', 0.1, 16)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from repalign.errors import ConfigError

__all__ = [
    "ARCH_DEFAULTS",
    "BUILTIN_ARCHS",
    "BUILTIN_SEEDS",
    "BUILTIN_STYLES",
    "EPSILON",
    "EVAL_STEPS",
    "STYLES",
    "TrainConfig",
    "as_config",
    "builtin_configs",
    "builtin_name",
]

STYLES: tuple[str, ...] = ("standard", "pgd_l2", "pgd_linf", "trades", "simclr", "simclr_adv")
#: default attack radius per norm, in [0, 1] pixel units on 1x32x32 digits (see docs/zoo.md)
EPSILON: dict[str, float] = {"l2": 2.0, "linf": 0.1}
#: PGD steps used to measure robust accuracy (training uses ``TrainConfig.attack_steps``)
EVAL_STEPS = 20
#: default width and depth per architecture (parameters stay around 10-20 k)
ARCH_DEFAULTS: dict[str, dict[str, int]] = {
    "mlp": {"width": 64, "depth": 3},
    "cnn": {"width": 16, "depth": 3},
    "resnet": {"width": 8, "depth": 3},
}
BUILTIN_ARCHS: tuple[str, ...] = ("mlp", "cnn", "resnet")
#: built-in style -> the short name used in model names
BUILTIN_STYLES: dict[str, str] = {"standard": "standard", "pgd_l2": "l2", "pgd_linf": "linf"}
BUILTIN_SEEDS: tuple[int, ...] = (0, 1)


class TrainConfig(BaseModel):
    """How one zoo model is built and trained (JSON-able, immutable).

    Attributes:
        arch: ``"mlp"``, ``"cnn"`` or ``"resnet"``.
        width: hidden units (MLP) or channels of the first block (CNN, ResNet).
        depth: hidden layers (MLP), conv blocks (CNN) or residual stages (ResNet).
        style: ``standard``; ``pgd_l2`` / ``pgd_linf`` (Madry adversarial training); ``trades``
            (clean cross-entropy + ``trades_beta`` x KL to the adversarial prediction);
            ``simclr`` (contrastive self-supervised, then a linear head on frozen features);
            ``simclr_adv`` (the same with adversarially perturbed views).
        norm: attack norm of adversarial styles (``"l2"`` or ``"linf"``); None otherwise.
        epsilon: attack radius in [0, 1] pixel units; None for non-adversarial styles.
        attack_steps: PGD steps during training (step size ``2.5 * epsilon / attack_steps``).
        eps_warmup: share of the epochs over which the attack radius ramps up linearly.
        trades_beta: weight of the TRADES robustness term.
        epochs: passes over the training split (for SimCLR styles: contrastive epochs).
        batch_size: images per step.
        lr: peak learning rate of Adam (one-cycle schedule).
        weight_decay: Adam's L2 weight decay.
        label_smoothing: cross-entropy label smoothing in [0, 1).
        augmentation: ``"none"``, ``"affine"`` or ``"affine_noise"`` (see ``augment.py``);
            for SimCLR styles applied to each batch before the two views are drawn.
        temperature: NT-Xent temperature (SimCLR styles).
        proj_dim: projection-head output size (SimCLR styles).
        head_epochs: epochs of the linear head on frozen features (SimCLR styles).
        seed: initialisation, data order, augmentation and attack randomness.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["mlp", "cnn", "resnet"]
    width: int | None = Field(default=None, ge=1, le=512)
    depth: int | None = Field(default=None, ge=1, le=8)
    style: Literal["standard", "pgd_l2", "pgd_linf", "trades", "simclr", "simclr_adv"] = "standard"
    norm: Literal["l2", "linf"] | None = None
    epsilon: float | None = Field(default=None, ge=0.0, le=16.0)
    attack_steps: int = Field(default=5, ge=1, le=100)
    eps_warmup: float = Field(default=0.3, ge=0.0, le=1.0)
    trades_beta: float = Field(default=6.0, ge=0.0)
    epochs: int = Field(default=20, ge=1, le=500)
    batch_size: int = Field(default=64, ge=2, le=4096)
    lr: float = Field(default=3e-3, gt=0.0, le=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)
    augmentation: Literal["none", "affine", "affine_noise"] = "affine"
    temperature: float = Field(default=0.5, gt=0.0)
    proj_dim: int = Field(default=32, ge=2)
    head_epochs: int = Field(default=30, ge=1)
    seed: int = Field(default=0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        arch = data.get("arch")
        for key, value in ARCH_DEFAULTS.get(str(arch), {}).items():
            if data.get(key) is None:
                data[key] = value
        style = data.get("style", "standard")
        adversarial = style in ("pgd_l2", "pgd_linf", "trades", "simclr_adv")
        if style in ("pgd_l2", "pgd_linf"):
            implied = style.removeprefix("pgd_")
            if data.get("norm") not in (None, implied):
                raise ConfigError(f"style {style!r} implies norm={implied!r}, received "
                                  f"norm={data['norm']!r}.")
            data["norm"] = implied
        if adversarial:
            data.setdefault("norm", None)
            data["norm"] = data["norm"] or "linf"
            if data.get("epsilon") is None:
                data["epsilon"] = EPSILON[data["norm"]]
        elif data.get("norm") is not None or data.get("epsilon") not in (None, 0, 0.0):
            raise ConfigError(
                f"style {style!r} is not adversarial: leave norm and epsilon unset (received "
                f"norm={data.get('norm')!r}, epsilon={data.get('epsilon')!r})."
            )
        else:
            data["norm"], data["epsilon"] = None, None
        return data

    @property
    def adversarial(self) -> bool:
        """Whether training uses an attack."""
        return self.epsilon is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (every field explicit)."""
        return self.model_dump(mode="json")


def builtin_name(cfg: TrainConfig) -> str:
    """``<arch>_<standard|l2|linf>_s<seed>`` for a built-in configuration."""
    return f"{cfg.arch}_{BUILTIN_STYLES[cfg.style]}_s{cfg.seed}"


def builtin_configs() -> dict[str, TrainConfig]:
    """The 18 built-in zoo models: 3 architectures x 3 styles x 2 seeds, by name.

    Example:
        >>> sorted(builtin_configs())[:2]
        ['cnn_l2_s0', 'cnn_l2_s1']
    """
    configs = {}
    for arch in BUILTIN_ARCHS:
        for style in BUILTIN_STYLES:
            for seed in BUILTIN_SEEDS:
                cfg = TrainConfig(arch=arch, style=style, seed=seed)  # type: ignore[arg-type]
                configs[builtin_name(cfg)] = cfg
    return configs


def as_config(config: TrainConfig | dict[str, Any]) -> TrainConfig:
    """Validate a :class:`TrainConfig` or a dict of its fields; bad values raise ConfigError.

    Example:
        >>> as_config({"arch": "mlp", "epochs": 2}).epochs
        2
    """
    if isinstance(config, TrainConfig):
        return config
    from pydantic import ValidationError

    if not isinstance(config, dict):
        raise ConfigError(f"expected a TrainConfig or a dict of its fields, received "
                          f"{type(config).__name__}.")
    try:
        return TrainConfig(**config)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid zoo training config {config!r}: {problems}.") from None
