"""Sample many varied zoo training configurations and train them into a folder (resumable).

The sweep varies what seed 000 and seed 002 relate to alignment: architecture, width, depth,
epochs, augmentation, label smoothing, and the training style (standard, PGD-L2, PGD-Linf,
TRADES, SimCLR, adversarial SimCLR) with its attack norm and radius. Configurations come in
blocks of 18 (every architecture x style pair once, in a shuffled order), so any N >= 18 covers
all pairs; the i-th configuration depends only on ``(seed, i)``, so a larger N extends a smaller
one and a stopped sweep resumes where it stopped.

Example:
    >>> cfgs = sample_sweep_configs(40)
    >>> len(cfgs), sorted({c.style for c in cfgs.values()}) == sorted(STYLES)
    (40, True)
    >>> list(cfgs)[0] == list(sample_sweep_configs(3))[0]
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from repalign.errors import ConfigError
from repalign.models.zoo.build import train_many
from repalign.models.zoo.config import BUILTIN_ARCHS, STYLES, TrainConfig
from repalign.models.zoo.store import user_dir

__all__ = ["SWEEP_SPACE", "sample_sweep_configs", "train_sweep"]

#: the values each varied field is drawn from (uniformly)
SWEEP_SPACE: dict[str, dict[str, list[int | float | str]]] = {
    "width": {"mlp": [32, 64, 128], "cnn": [12, 16, 24], "resnet": [6, 8, 12]},
    "depth": {"mlp": [1, 2, 3, 4], "cnn": [3, 4], "resnet": [2, 3]},
    "epsilon": {"l2": [0.5, 1.0, 2.0], "linf": [0.03, 0.06, 0.1]},
    # adversarial views of contrastive learning: half the supervised radii (RoCL's budget scale)
    "epsilon_contrastive": {"l2": [0.25, 0.5, 1.0], "linf": [0.015, 0.03, 0.05]},
    "epochs": {"supervised": [6, 10, 15], "contrastive": [10, 15, 20]},
    "augmentation": {"all": ["none", "affine", "affine_noise"]},
    "label_smoothing": {"all": [0.0, 0.0, 0.1, 0.2]},
}
SWEEP_ATTACK_STEPS = 3


def _pick(rng: np.random.Generator, values: Sequence[object]) -> object:
    return values[int(rng.integers(len(values)))]


def sweep_config(i: int, seed: int = 0) -> TrainConfig:
    """The ``i``-th configuration of the sweep with this ``seed`` (deterministic)."""
    pairs = [(a, s) for a in BUILTIN_ARCHS for s in STYLES]
    block = np.random.default_rng([seed, i // len(pairs), 1]).permutation(len(pairs))
    arch, style = pairs[int(block[i % len(pairs)])]
    rng = np.random.default_rng([seed, i, 2])
    contrastive = style in ("simclr", "simclr_adv")
    fields: dict[str, object] = {
        "arch": arch,
        "style": style,
        "width": _pick(rng, SWEEP_SPACE["width"][arch]),
        "depth": _pick(rng, SWEEP_SPACE["depth"][arch]),
        "epochs": _pick(rng, SWEEP_SPACE["epochs"]["contrastive" if contrastive else "supervised"]),
        "augmentation": _pick(rng, SWEEP_SPACE["augmentation"]["all"]),
        "label_smoothing": _pick(rng, SWEEP_SPACE["label_smoothing"]["all"]),
        "seed": 1000 * seed + i,
    }
    if style in ("pgd_l2", "pgd_linf", "trades", "simclr_adv"):
        norm = style.removeprefix("pgd_") if style.startswith("pgd_") else _pick(rng, ["l2", "linf"])
        radii = SWEEP_SPACE["epsilon_contrastive" if contrastive else "epsilon"][str(norm)]
        fields.update(norm=norm, epsilon=_pick(rng, radii), attack_steps=SWEEP_ATTACK_STEPS)
    return TrainConfig(**fields)  # type: ignore[arg-type]


def sample_sweep_configs(n: int, seed: int = 0) -> dict[str, TrainConfig]:
    """``n`` varied configurations by name (``sweep<seed>_<i>_<arch>_<style>``), deterministic."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n must be a positive int, received {n!r}.")
    configs = {}
    for i in range(int(n)):
        cfg = sweep_config(i, seed)
        configs[f"sweep{seed}_{i:03d}_{cfg.arch}_{cfg.style}"] = cfg
    return configs


def train_sweep(n: int, out: str | Path | None = None, *, seed: int = 0, jobs: int = 1,
                force: bool = False, quiet: bool = False) -> pd.DataFrame:
    """Sample ``n`` configurations and train them into ``out`` (default: the user zoo folder).

    Finished models (same name, same config) are skipped, so an interrupted sweep resumes.
    Models in the user zoo folder are listed by :func:`~repalign.models.zoo.zoo_names` and load
    with ``create_model("zoo:<name>")``.

    Returns:
        One row per model: name, status, the varied config fields, clean and robust accuracy,
        train time, weights sha256, path.
    """
    configs = sample_sweep_configs(n, seed)
    table = train_many(dict(configs), out if out is not None else user_dir(), force=force,
                       jobs=jobs, quiet=quiet)
    varied = ["width", "depth", "norm", "epochs", "augmentation", "label_smoothing"]
    extra = pd.DataFrame([{k: getattr(cfg, k) for k in varied} for cfg in configs.values()])
    return pd.concat([table.reset_index(drop=True), extra], axis=1)
