"""The batch plan: which target, layers, generator models and repeat each metamer row uses.

Rows enumerate generator groups x layer groups x repeats x targets. A generator group is one
model, or several models matched jointly (their per-model distances combined by a weighted mean
or max). A layer group gives each model of a group the layer(s) it is matched at; several layers
are averaged. One forward per model serves every row of a batch: the model is asked for the union
of the layers its rows need and stops after the deepest one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from repalign.errors import ConfigError
from repalign.models.model import Model

__all__ = ["Plan", "build_plan"]

LayerGroup = dict[int, tuple[str, ...]]


@dataclass
class Plan:
    """Rows of a generation run (see the module docstring); arrays are (M,) row attributes."""

    models: list[Model]
    groups: list[tuple[int, ...]]
    weights: list[tuple[float, ...]]
    layer_groups: list[LayerGroup]
    target: np.ndarray
    repeat: np.ndarray
    group: np.ndarray
    layer_group: np.ndarray

    def __len__(self) -> int:
        return len(self.target)

    @property
    def taps(self) -> list[tuple[int, str]]:
        """Every (model index, layer) pair any row uses, in a fixed order."""
        out: dict[tuple[int, str], None] = {}
        for lg in self.layer_groups:
            for u, layers in lg.items():
                for layer in layers:
                    out[(u, layer)] = None
        return list(out)

    def generator_label(self, row: int) -> str:
        return "+".join(self.models[u].spec for u in self.groups[self.group[row]])

    def layer_label(self, row: int) -> str:
        lg = self.layer_groups[self.layer_group[row]]
        names = [layer for u in self.groups[self.group[row]] for layer in lg[u]]
        return "+".join(dict.fromkeys(names))

    def matrices(
        self, rows: np.ndarray, combine: str, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights for ``rows``: (n, n_taps) layer averaging and (n, n_models) model combination.

        ``tap_w[i, t] = 1 / |layers of model u|`` when row ``i`` matches tap ``t = (u, layer)``;
        ``model_w[i, u]`` is the model's weight in the row's group (normalised to sum 1 for
        ``mean``), 0 for models outside the group.
        """
        taps = {t: k for k, t in enumerate(self.taps)}
        tap_w = np.zeros((len(rows), len(taps)))
        model_w = np.zeros((len(rows), len(self.models)))
        for i, r in enumerate(rows):
            grp, w = self.groups[self.group[r]], np.asarray(self.weights[self.group[r]], float)
            if combine == "mean":
                w = w / w.sum()
            lg = self.layer_groups[self.layer_group[r]]
            for u, wu in zip(grp, w, strict=True):
                model_w[i, u] = wu
                for layer in lg[u]:
                    tap_w[i, taps[(u, layer)]] = 1.0 / len(lg[u])
        return (torch.as_tensor(tap_w, dtype=torch.float32, device=device),
                torch.as_tensor(model_w, dtype=torch.float32, device=device))

    def model_rows(self, rows: np.ndarray) -> list[np.ndarray]:
        """For each model, the positions within ``rows`` whose group contains it."""
        uses = [[u in self.groups[self.group[r]] for r in rows] for u in range(len(self.models))]
        return [np.flatnonzero(np.asarray(m, bool)) for m in uses]


def _as_groups(models: Any) -> tuple[list[Model], list[tuple[int, ...]]]:
    items = [models] if isinstance(models, Model) else list(models)
    if not items:
        raise ConfigError("generate_metamers needs at least one model.")
    unique: list[Model] = []
    groups: list[tuple[int, ...]] = []
    for item in items:
        members = [item] if isinstance(item, Model) else list(item)
        idx = []
        for m in members:
            if not isinstance(m, Model):
                raise ConfigError(
                    f"models must be Model objects (ra.create_model(...)) or lists of them for "
                    f"joint generation, received {type(m).__name__}."
                )
            pos = next((k for k, u in enumerate(unique) if u is m), None)
            if pos is None:
                unique.append(m)
                pos = len(unique) - 1
            idx.append(pos)
        if len(set(idx)) != len(idx) or not idx:
            raise ConfigError("A joint generator group must list distinct models, at least one.")
        groups.append(tuple(idx))
    return unique, groups


def _split(layers: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in layers.split("+") if p.strip())


def _layer_groups(layers: Any, models: list[Model]) -> list[LayerGroup]:
    if layers is None:
        defaults = [m.meta.get("default_layers") for m in models]
        if any(not d for d in defaults):
            missing = [m.spec for m, d in zip(models, defaults, strict=True) if not d]
            raise ConfigError(
                f"No layers given and model(s) {missing} have no meta['default_layers']; pass "
                f"layers=... (one of model.layers(), e.g. {models[0].layers()[-3:]})."
            )
        counts = {len(d) for d in defaults if d}
        if len(counts) != 1:
            raise ConfigError("Models have different numbers of default layers; pass layers=....")
        return [{u: (d[k],) for u, d in enumerate(defaults) if d} for k in range(counts.pop())]
    items = [layers] if isinstance(layers, (str, Mapping)) else list(layers)
    if not items:
        raise ConfigError("layers is empty; pass one layer name or a list of them.")
    out: list[LayerGroup] = []
    for item in items:
        if isinstance(item, str):
            out.append({u: _split(item) for u in range(len(models))})
            continue
        if not isinstance(item, Mapping):
            raise ConfigError(f"A layer spec is a string or a mapping, received {item!r}.")
        lg: LayerGroup = {}
        for u, m in enumerate(models):
            value = item.get(m.spec, item.get(u))
            if value is None:
                raise ConfigError(
                    f"Layer mapping {dict(item)} names no layer for model {m.spec!r}; key it by "
                    "model spec or by position in the model list."
                )
            lg[u] = _split(value)
        out.append(lg)
    return out


def build_plan(
    models: Any, n_targets: int, layers: Any, *, repeats: int = 1,
    model_weights: Sequence[float] | None = None,
) -> Plan:
    """Validate models and layers and enumerate the rows (see :class:`Plan`)."""
    unique, groups = _as_groups(models)
    lgroups = _layer_groups(layers, unique)
    for lg in lgroups:
        for u, names in lg.items():
            if not names:
                raise ConfigError(f"Empty layer name for model {unique[u].spec!r}.")
            unique[u].check_layers(list(names))
    if model_weights is None:
        weights = [tuple(1.0 for _ in g) for g in groups]
    else:
        mw = [float(w) for w in model_weights]
        if len(mw) != len(unique) or any(w <= 0 for w in mw):
            raise ConfigError(
                f"model_weights needs one positive weight per distinct model ({len(unique)}), "
                f"received {model_weights}."
            )
        weights = [tuple(mw[u] for u in g) for g in groups]
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, received {repeats}.")
    g, lg_idx, r, t = np.meshgrid(
        np.arange(len(groups)), np.arange(len(lgroups)), np.arange(repeats), np.arange(n_targets),
        indexing="ij",
    )
    return Plan(
        models=unique, groups=groups, weights=weights, layer_groups=lgroups,
        target=t.ravel(), repeat=r.ravel(), group=g.ravel(), layer_group=lg_idx.ravel(),
    )
