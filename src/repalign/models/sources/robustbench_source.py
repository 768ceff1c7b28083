"""``robustbench:NAME?dataset=imagenet&threat=Linf``: adversarially robust models of RobustBench.

RobustBench (Croce et al., https://robustbench.github.io) keeps each model's weights in
``MODEL_DIR/DATASET/THREAT/NAME.pt`` (its ``load_model(model_name, model_dir, dataset,
threat_model)`` layout, ``MODEL_DIR`` defaulting to ``./models``). repalign reads that file and
never downloads: a missing file raises :class:`~repalign.errors.WeightsUnavailableError` with the
exact path to put it at.

- ``dataset`` (default ``imagenet``) and ``threat`` (default ``Linf``) follow RobustBench's names
  (``cifar10``/``cifar100``/``imagenet``; ``Linf``/``L2``/``corruptions``).
- ``model_dir`` (query option, ``create_model(..., model_dir=...)`` or the environment variable
  ``REPALIGN_ROBUSTBENCH_DIR``) is the folder holding the ``DATASET/THREAT`` tree.
- The ImageNet Linf ResNets of the zoo (:data:`IMAGENET_LINF`, e.g. ``Engstrom2019Robustness``, the
  robustness library's ResNet-50 that seed 003 uses) are built here from torchvision with their
  normalisation as the model's preprocessing, so layer names are torchvision's (``layer3``) and the
  ``robustbench`` package is not needed. Any other entry of the zoo needs the package (extra
  ``robustbench``; it pins an old timm, so install it in its own environment): its architecture is
  taken from ``robustbench.model_zoo.model_dicts``, normalisation included, and layer names are
  RobustBench's.
- ``pretrained=False`` builds the architecture with random weights (no file needed).

Examples: ``robustbench:Engstrom2019Robustness`` (= ``?dataset=imagenet&threat=Linf``),
``robustbench:Salman2020Do_R18?model_dir=/data/robustbench``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import torch

from repalign.errors import ConfigError, MissingDependencyError, WeightsUnavailableError
from repalign.models.model import Model, Preprocess
from repalign.models.sources.base import ModelSource, check_known, source_meta
from repalign.models.sources.checkpoint import (
    clean_state_dict,
    load_state_strict,
    read_checkpoint,
    state_dict_of,
)

__all__ = ["IMAGENET_LINF", "SOURCE", "weights_path"]

DATASETS = ("cifar10", "cifar100", "imagenet")
THREATS = ("Linf", "L2", "corruptions")
_ENV = "REPALIGN_ROBUSTBENCH_DIR"
_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class _Entry:
    arch: str  # torchvision architecture
    crop: int  # RobustBench's evaluation preprocessing: Res256Crop224 or Crop288
    paper: str


IMAGENET_LINF: dict[str, _Entry] = {
    "Engstrom2019Robustness": _Entry("resnet50", 224, "Engstrom et al. 2019, robustness library"),
    "Salman2020Do_R50": _Entry("resnet50", 224, "Salman et al. 2020, Do adversarially robust..."),
    "Salman2020Do_R18": _Entry("resnet18", 224, "Salman et al. 2020, Do adversarially robust..."),
    "Salman2020Do_50_2": _Entry("wide_resnet50_2", 224, "Salman et al. 2020, Do adversarially robust..."),
    "Wong2020Fast": _Entry("resnet50", 288, "Wong et al. 2020, Fast is better than free"),
}
_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet": 1000}
_SIZES = {"cifar10": 32, "cifar100": 32, "imagenet": 224}


def _parse(name: str, kwargs: dict[str, Any]) -> tuple[str, str, str, Path]:
    model, _, query = name.partition("?")
    if not model:
        raise ConfigError(f"robustbench:{name} has no model name; e.g. "
                          "robustbench:Engstrom2019Robustness?dataset=imagenet&threat=Linf.")
    opts = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    unknown = sorted(set(opts) - {"dataset", "threat", "model_dir"})
    if unknown:
        raise ConfigError(f"robustbench:{name}: unknown option(s) {unknown}; the options are "
                          "dataset, threat and model_dir.")
    dataset = opts.get("dataset", "imagenet")
    threat = opts.get("threat", "Linf")
    check_known("RobustBench dataset", dataset, DATASETS)
    check_known("RobustBench threat model", threat, THREATS)
    folder = kwargs.pop("model_dir", None) or opts.get("model_dir") or os.environ.get(_ENV) or "models"
    return model, dataset, threat, Path(folder).expanduser()


def weights_path(model_dir: str | Path, name: str, dataset: str = "imagenet",
                 threat: str = "Linf") -> Path:
    """Where RobustBench keeps a model's weights: ``model_dir/dataset/threat/name.pt``.

    Example:
        >>> weights_path("models", "Engstrom2019Robustness").as_posix()
        'models/imagenet/Linf/Engstrom2019Robustness.pt'
    """
    return Path(model_dir) / dataset / threat / f"{name}.pt"


def _zoo_entry(name: str, dataset: str, threat: str) -> Any:
    try:
        from robustbench.model_zoo import model_dicts
        from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel
    except ImportError as exc:
        raise MissingDependencyError(
            f"robustbench:{name} (dataset={dataset}, threat={threat}) is not one of the models built "
            f"in ({sorted(IMAGENET_LINF)} for imagenet/Linf); other RobustBench models need the "
            "robustbench package: pip install 'repalign[robustbench]' (it pins timm==1.0.9, so use "
            "an environment of its own)."
        ) from exc
    models = model_dicts[BenchmarkDataset(dataset)][ThreatModel(threat)]
    check_known(f"RobustBench {dataset}/{threat} model", name, list(models))
    return models[name]


def _create(name: str, *, pretrained: bool = True, **kwargs: Any) -> Model:
    import torchvision

    model_name, dataset, threat, folder = _parse(name, kwargs)
    builtin = IMAGENET_LINF.get(model_name) if (dataset, threat) == ("imagenet", "Linf") else None
    if builtin is not None:
        network = torchvision.models.get_model(builtin.arch, weights=None, **kwargs)
        pre, size = Preprocess(_MEAN, _STD, size=(builtin.crop, builtin.crop)), builtin.crop
        arch = f"torchvision:{builtin.arch}"
    else:
        entry = _zoo_entry(model_name, dataset, threat)
        network = entry["model"]()
        size = 288 if entry.get("preprocessing") == "Crop288" else _SIZES[dataset]
        pre, arch = Preprocess((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), size=(size, size)), type(network).__name__
    spec_name = f"{model_name}?dataset={dataset}&threat={threat}"
    meta = source_meta("robustbench", spec_name, architecture=arch, pretrained=pretrained,
                       training=f"RobustBench {dataset} {threat} adversarial training"
                       if pretrained else None, dataset=dataset, threat=threat)
    model = Model(network, pre, spec=f"robustbench:{spec_name}", input_size=(3, size, size), meta=meta)
    if not pretrained:
        return model
    path = weights_path(folder, model_name, dataset, threat)
    if not path.is_file():
        raise WeightsUnavailableError(
            f"Weights for robustbench:{model_name} ({dataset}, {threat}) are not available offline "
            f"and repalign does not download. Put RobustBench's file {path.name} at {path.resolve()} "
            f"(the layout of robustbench.utils.load_model(model_dir=...): MODEL_DIR/{dataset}/"
            f"{threat}/{path.name}); set the folder with ?model_dir=..., model_dir=... or "
            f"{_ENV}; or use pretrained=False for random initialisation."
        )
    sd = state_dict_of(read_checkpoint(path), source=str(path))
    own = network.state_dict()
    if builtin is not None:  # the normaliser (RobustBench's first module) is our preprocessing
        norm = {k.rsplit(".", 1)[1]: sd.pop(k) for k in list(sd)
                if k.endswith(("normalize.mean", "normalize.std"))}
        sd, info = clean_state_dict(sd, set(own))
        norm = {s: info[s] for s in ("mean", "std") if s in info} or norm
        if {"mean", "std"} <= set(norm):
            model.preprocess = Preprocess([float(v) for v in torch.as_tensor(norm["mean"]).flatten()],
                                          [float(v) for v in torch.as_tensor(norm["std"]).flatten()],
                                          size=(size, size))
    else:
        sd, _ = clean_state_dict(sd, set(own))
    for key in ("normalize.mean", "normalize.std"):  # RobustBench loads these leniently too
        if key in own and key not in sd:
            sd[key] = own[key]
    load_state_strict(network, sd, str(path))
    model.meta.update(checkpoint=str(path), weights=path.name)
    return model


def _names() -> list[str]:
    return sorted(IMAGENET_LINF)


SOURCE = ModelSource(
    name="robustbench",
    create=_create,
    names=_names,
    description="RobustBench's robust models from MODEL_DIR/DATASET/THREAT/NAME.pt, e.g. "
    "Engstrom2019Robustness?dataset=imagenet&threat=Linf",
    extra="robustbench",
)
