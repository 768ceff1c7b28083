"""Work units: the pieces a study is cut into, keyed by content hashes, and what each returns.

A unit names its stage, the parameters the stage needs (JSON-able), the units it depends on and the
resources it asks for. Its key hashes the stage, its version, the parameters (which hold the content
hashes of models and stimuli) and the keys of its dependencies, so a unit is recomputed exactly when
something it depends on changed.

Example:
    >>> u = make_unit("features", "features zoo:a", {"model_key": "ab12"}, deps=())
    >>> len(u.key), u.stage
    (64, 'features')
    >>> out = UnitOutput(rows=[result_row("dim", 64, model="zoo:a", layer="fc")])
    >>> out.rows[0]["labels"]
    {}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from repalign._hashing import hash_params
from repalign.errors import ShapeError

__all__ = ["Unit", "UnitInput", "UnitOutput", "make_unit", "result_row", "rows_from_frame"]

# bump when a stage's computation changes so old results are not reused
UNIT_FORMAT = 1


@dataclass(frozen=True)
class Unit:
    """One piece of work.

    Attributes:
        key: sha256 of stage, format, parameters and dependency keys.
        stage: the stage that runs it (``features``, ``similarity``, ...).
        name: readable description for logs and progress bars.
        params: JSON-able parameters handed to the stage's runner.
        deps: keys of the units whose outputs it reads.
        cpus: CPUs it asks an executor for.
        gpus: GPUs it asks an executor for.
    """

    key: str
    stage: str
    name: str
    params: Mapping[str, Any]
    deps: tuple[str, ...] = ()
    cpus: float = 1.0
    gpus: float = 0.0


def make_unit(
    stage: str,
    name: str,
    params: Mapping[str, Any],
    deps: Iterable[str] = (),
    *,
    cpus: float = 1.0,
    gpus: float = 0.0,
) -> Unit:
    """Build a :class:`Unit` whose key is the content hash of what it computes.

    Resources do not enter the key: the same unit run with more CPUs gives the same result.
    """
    deps = tuple(deps)
    key = hash_params({"stage": stage, "format": UNIT_FORMAT, "params": dict(params), "deps": list(deps)})
    return Unit(key=key, stage=stage, name=name, params=dict(params), deps=deps, cpus=cpus, gpus=gpus)


def result_row(
    metric: str, value: float, *, model: str | None = None, layer: str | None = None, **labels: Any
) -> dict[str, Any]:
    """One row of the long-format results table.

    Args:
        metric: what was measured (``rsa_spearman``, ``two_afc``, ``accuracy``, ...).
        value: the number (NaN allowed; stored as NULL).
        model: the model it is about, if any.
        layer: the layer it is about, if any.
        **labels: every other dimension (``other``, ``regularizer``, ``observer``, ``shots``, ...);
            JSON-able scalars.
    """
    v = float(value)
    clean = {k: (v_.item() if hasattr(v_, "item") else v_) for k, v_ in labels.items() if v_ is not None}
    for k, v_ in clean.items():
        if not isinstance(v_, (str, int, float, bool)):
            raise ShapeError(f"result label {k!r} must be a string or number, received {type(v_).__name__}.")
    return {
        "metric": str(metric),
        "value": None if math.isnan(v) else v,
        "model": model,
        "layer": layer,
        "labels": clean,
    }


def rows_from_frame(
    frame: Any, value_columns: Iterable[str], *, prefix: str = "", **fixed: Any
) -> list[dict[str, Any]]:
    """Turn a tidy DataFrame into result rows: one row per (record, value column).

    Columns ``model`` and ``layer`` fill those fields; every other non-value column becomes a
    label; ``fixed`` labels are added to every row. Non-finite values are kept as NaN. A frame
    already in long format (columns ``metric`` and ``value``) keeps its metric names.
    """
    value_columns = [c for c in value_columns if c in frame.columns]
    long = "metric" in frame.columns and value_columns == ["value"]
    skip = {"model", "layer", *value_columns, *(("metric",) if long else ())}
    label_cols = [c for c in frame.columns if c not in skip]
    rows = []
    for rec in frame.to_dict(orient="records"):
        labels = {**fixed, **{c: _scalar(rec[c]) for c in label_cols}}
        for col in value_columns:
            val = rec[col]
            if val is None or isinstance(val, str):
                continue
            rows.append(
                result_row(
                    f"{prefix}{rec['metric'] if long else col}",
                    float(val),
                    model=None if rec.get("model") is None else str(rec["model"]),
                    layer=None if rec.get("layer") is None else str(rec["layer"]),
                    **labels,
                )
            )
    return rows


def _scalar(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


@dataclass
class UnitOutput:
    """What a unit returns to the driver, which alone writes it to the store.

    Attributes:
        rows: result rows (see :func:`result_row`).
        files: artifact files, relative path -> bytes (written under ``artifacts/<key>/``).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class UnitInput:
    """The stored output of a finished dependency, as handed to a dependent unit."""

    unit: Unit
    rows: list[dict[str, Any]]
    files: dict[str, bytes]
