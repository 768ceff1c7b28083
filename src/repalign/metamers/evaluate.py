"""Forward passes of a batch of candidates: per-sample distance and the metamer criterion.

:class:`ActiveSet` holds, for the samples still optimised, the row selections and weights each
model needs; :func:`evaluate` runs one forward per model on its rows (stopping after the deepest
layer needed unless logits are asked for), averages the objective over each row's layers and
combines it over the row's models, and optionally tests the criterion (rho above the null
threshold at every layer of every model of the row, plus the same-label check).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from repalign.metamers.criterion import rowwise_correlation, standardize_rows
from repalign.metamers.plan import Plan
from repalign.models.model import Model
from repalign.models.taps import LayerTaps

__all__ = [
    "FP32", "ActiveSet", "Criterion", "Numerics", "evaluate", "feature_criterion", "forward_model",
    "quantize",
]


@dataclass(frozen=True)
class Numerics:
    """How forwards run: ``dtype`` of the autocast (None: float32) and the memory format."""

    dtype: torch.dtype | None = None
    channels_last: bool = False

    def exact(self) -> Numerics:
        """The same memory format in float32 (the criterion is always judged in float32)."""
        return Numerics(None, self.channels_last)


FP32 = Numerics()


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] images to the 256 levels of an 8-bit image (what a saved PNG holds)."""
    return torch.round(x * 255.0) / 255.0


@dataclass
class Criterion:
    """Thresholds per (model index, layer), the statistic, and the same-label mode."""

    thresholds: dict[tuple[int, str], float]
    statistic: str = "spearman"
    same_label: str | None = None  # None, "predicted" or "true"


def forward_model(
    model: Model, x: torch.Tensor, layers: list[str], *, logits: bool = False,
    numerics: Numerics = FP32,
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Activations of ``layers`` (early exit) or, with ``logits``, a full forward giving both;
    under ``numerics``' autocast dtype and memory format."""
    if numerics.channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    ctx = (torch.autocast(x.device.type, dtype=numerics.dtype) if numerics.dtype is not None
           else nullcontext())
    with ctx:
        if not logits:
            return model.features(x, layers), None
        with LayerTaps(model.network, layers) as taps:
            out = model(x)
        return {name: taps.outputs[name] for name in layers}, out


@dataclass
class ActiveSet:
    """Selections for the active rows (positions in the batch) of a plan's batch ``rows``."""

    plan: Plan
    rows: np.ndarray
    combine: str
    device: torch.device
    positions: np.ndarray = field(init=False)
    index: torch.Tensor | None = field(init=False)

    def __post_init__(self) -> None:
        self.taps = self.plan.taps
        self.tap_w_all, self.model_w_all = self.plan.matrices(self.rows, self.combine, self.device)
        self.model_rows_all = self.plan.model_rows(self.rows)
        self.layers = [
            [layer for (u, layer) in self.taps if u == m] for m in range(len(self.plan.models))
        ]
        self.tap_ids = [
            [k for k, (u, _) in enumerate(self.taps) if u == m] for m in range(len(self.plan.models))
        ]
        self.set(np.arange(len(self.rows)))

    def set(self, positions: np.ndarray) -> None:
        """Make ``positions`` (sorted batch positions) the active rows."""
        self.positions = np.asarray(positions, dtype=np.int64)
        n_all = len(self.rows)
        self.index = None if len(self.positions) == n_all else self._t(self.positions)
        self.model_w = self._take(self.model_w_all)
        # fast path: one model whose weight is 1 for every row (no combination needed)
        self.single = len(self.plan.models) == 1 and bool((self.model_w == 1).all())
        self.sel: list[torch.Tensor | None] = []  # per model: positions within the active rows
        self.global_sel: list[torch.Tensor | None] = []  # per model: positions within the batch
        self.count: list[int] = []
        self.tap_w: list[torch.Tensor] = []  # per model: (n_u, n_layers_u)
        self.ones: list[list[bool]] = []  # per model and layer: weight 1 for every row
        for m in range(len(self.plan.models)):
            mask = np.isin(self.positions, self.model_rows_all[m])
            local = np.flatnonzero(mask)
            self.count.append(len(local))
            full = len(local) == len(self.positions)
            self.sel.append(None if full else self._t(local))
            glob = self.positions[local]
            gsel = None if len(glob) == n_all else self._t(glob)
            self.global_sel.append(gsel)
            w = self.tap_w_all[:, self.tap_ids[m]]
            w = w if gsel is None else w.index_select(0, gsel)
            self.tap_w.append(w)
            self.ones.append([bool((w[:, k] == 1).all()) for k in range(w.shape[1])])

    def __len__(self) -> int:
        return len(self.positions)

    def view(self, local: np.ndarray) -> ActiveSet:
        """A copy restricted to the active rows selected by ``local`` (mask or positions)."""
        sub = copy.copy(self)
        sub.set(self.positions[local])
        return sub

    def _t(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.long, device=self.device)

    def _take(self, full: torch.Tensor) -> torch.Tensor:
        return full if self.index is None else full.index_select(0, self.index)

    def take(self, full: torch.Tensor) -> torch.Tensor:
        """Active rows of a batch-sized tensor."""
        return self._take(full)

    def target_features(
        self, full: dict[tuple[int, str], torch.Tensor]
    ) -> dict[tuple[int, str], torch.Tensor]:
        """Per tap, the target activations of the active rows that use the tap's model."""
        out = {}
        for (u, layer), t in full.items():
            sel = self.global_sel[u]
            out[(u, layer)] = t if sel is None else t.index_select(0, sel)
        return out


def evaluate(
    act: ActiveSet,
    x: torch.Tensor,
    target_feats: dict[tuple[int, str], torch.Tensor],
    objective: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    numerics: Numerics = FP32,
    criterion: Criterion | None = None,
    ref_labels: dict[int, torch.Tensor] | None = None,
    target_z: dict[tuple[int, str], torch.Tensor] | None = None,
    keep: dict[tuple[int, str], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Distance (n,) of the active rows ``x`` (n, C, H, W) and, with ``criterion``, success (n,).

    ``target_feats`` come from :meth:`ActiveSet.target_features` (``target_z``: the same rows
    standardised for the criterion's statistic, to skip re-ranking them); ``ref_labels[u]`` holds
    the reference label of every batch row for model ``u`` (same-label check). ``keep``, when
    given, receives the detached activations per (model, layer) for :func:`feature_criterion`.
    """
    n = x.shape[0]
    per_model = []
    ok = torch.ones(n, dtype=torch.bool, device=x.device) if criterion is not None else None
    need_logits = criterion is not None and criterion.same_label is not None
    for u, model in enumerate(act.plan.models):
        if act.count[u] == 0:
            per_model.append(x.new_zeros(n))
            continue
        sel = act.sel[u]
        xu = x if sel is None else x.index_select(0, sel)
        feats, logits = forward_model(model, xu, act.layers[u], logits=need_logits,
                                      numerics=numerics)
        w = act.tap_w[u]
        d: torch.Tensor | None = None
        for k, layer in enumerate(act.layers[u]):
            f, t = feats[layer].float(), target_feats[(u, layer)]
            term = objective(f, t) if act.ones[u][k] else objective(f, t) * w[:, k]
            d = term if d is None else d + term
            if keep is not None:
                keep[(u, layer)] = f.detach()
            if criterion is not None and ok is not None:
                tz = target_z[(u, layer)] if target_z is not None else None
                ok = _and_rows(ok, _layer_pass(f.detach(), t, tz, criterion, (u, layer), w[:, k]),
                               sel)
        if need_logits and ok is not None and logits is not None and ref_labels is not None:
            ref, gsel = ref_labels[u], act.global_sel[u]
            ref = ref if gsel is None else ref.index_select(0, gsel)
            ok = _and_rows(ok, logits.argmax(dim=1) == ref, sel)
        d = x.new_zeros(xu.shape[0]) if d is None else d
        per_model.append(d if sel is None else x.new_zeros(n).index_copy(0, sel, d))
    if act.single:
        return per_model[0], ok
    e = torch.stack(per_model, dim=1)
    if act.combine == "max":
        dist = torch.where(act.model_w > 0, e * act.model_w, e.new_full((), -torch.inf)).amax(1)
    else:
        dist = (e * act.model_w).sum(dim=1)
    return dist, ok


def feature_criterion(
    act: ActiveSet,
    feats: dict[tuple[int, str], torch.Tensor],
    target_z: dict[tuple[int, str], torch.Tensor],
    criterion: Criterion,
) -> torch.Tensor:
    """The rank-correlation part of the criterion (n,) from activations kept by :func:`evaluate`
    (no forward pass; the same-label check is not included)."""
    ok = torch.ones(len(act), dtype=torch.bool, device=act.tap_w_all.device)
    for u in range(len(act.plan.models)):
        if act.count[u] == 0:
            continue
        for k, layer in enumerate(act.layers[u]):
            passed = _layer_pass(feats[(u, layer)], None, target_z[(u, layer)], criterion,
                                 (u, layer), act.tap_w[u][:, k])
            ok = _and_rows(ok, passed, act.sel[u])
    return ok


def _layer_pass(
    f: torch.Tensor, t: torch.Tensor | None, tz: torch.Tensor | None, criterion: Criterion,
    tap: tuple[int, str], weight: torch.Tensor,
) -> torch.Tensor:
    if tz is not None:
        rho = (standardize_rows(f, criterion.statistic) * tz).sum(dim=1)
    elif t is not None:
        rho = rowwise_correlation(f, t, criterion.statistic)
    else:
        raise ValueError("either standardised or raw target activations are needed")
    return (rho > criterion.thresholds[tap]) | (weight == 0)


def _and_rows(ok: torch.Tensor, passed: torch.Tensor, sel: torch.Tensor | None) -> torch.Tensor:
    if sel is None:
        return ok & passed
    return ok.index_copy(0, sel, ok.index_select(0, sel) & passed)


def describe_models(models: list[Model]) -> list[dict[str, Any]]:
    """JSON-able identity of the generator models (spec and content hash)."""
    return [{"spec": m.spec, "cache_key": m.cache_key()} for m in models]
