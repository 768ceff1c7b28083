"""The offline model zoo: small MLP / CNN / ResNet models trained on digits 0-4.

18 built-in models (3 architectures x standard, L2-PGD and Linf-PGD training x 2 seeds) ship as
checkpoints inside the package; :func:`load_zoo_model` loads them (training a missing one on
first use), :func:`train_zoo` reproduces them, :func:`train_many` trains any configs into a
folder, and the sweep samples varied configurations.

Example:
    >>> from repalign.models.zoo import zoo_names, load_zoo_model
    >>> len([n for n in zoo_names() if n.endswith(("_s0", "_s1"))]) >= 18
    True
    >>> model = load_zoo_model("cnn_standard_s0", device="cpu")   # doctest: +SKIP
"""

from __future__ import annotations

from repalign.models.zoo.architectures import ARCHITECTURES, build_network, layer_roles
from repalign.models.zoo.attacks import accuracy, pgd, pgd_attack, robust_accuracy
from repalign.models.zoo.build import train_many, train_zoo
from repalign.models.zoo.checkpoints import load_checkpoint, read_meta, save_checkpoint
from repalign.models.zoo.config import (
    EPSILON,
    STYLES,
    TrainConfig,
    as_config,
    builtin_configs,
)
from repalign.models.zoo.shift import shift_accuracies
from repalign.models.zoo.store import (
    ENV_VAR,
    builtin_dir,
    find_checkpoint,
    load_zoo_model,
    user_dir,
    zoo_names,
    zoo_table,
)
from repalign.models.zoo.sweep import sample_sweep_configs, train_sweep
from repalign.models.zoo.training import evaluate, train_model

__all__ = [
    "ARCHITECTURES",
    "ENV_VAR",
    "EPSILON",
    "STYLES",
    "TrainConfig",
    "accuracy",
    "as_config",
    "build_network",
    "builtin_configs",
    "builtin_dir",
    "evaluate",
    "find_checkpoint",
    "layer_roles",
    "load_checkpoint",
    "load_zoo_model",
    "pgd",
    "pgd_attack",
    "read_meta",
    "robust_accuracy",
    "sample_sweep_configs",
    "save_checkpoint",
    "shift_accuracies",
    "train_many",
    "train_model",
    "train_sweep",
    "train_zoo",
    "user_dir",
    "zoo_names",
    "zoo_table",
]
