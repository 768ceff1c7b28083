""":class:`MetamerResult`: metamers with their targets, seeds, recipe and outcome, saved to disk."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from repalign._io import atomic_path, atomic_write_text
from repalign._validation import check_images
from repalign.errors import DataFormatError, ShapeError

__all__ = ["MetamerResult"]

# per-sample columns: name -> kind ("str" lists, or numpy dtype)
_COLUMNS: dict[str, str] = {
    "target_ids": "str",
    "target_labels": "int64",
    "generators": "str",
    "layers": "str",
    "inits": "str",
    "regularizers": "str",
    "optimizers": "str",
    "repeats": "int64",
    "final_distance": "float64",
    "success": "bool",
    "steps_to_success": "int64",
}
_IMAGES = ("images", "seeds", "targets")


@dataclass(eq=False)
class MetamerResult:
    """M metamers (one row per metamer) and everything needed to evaluate them.

    Attributes:
        images: (M, C, H, W) metamers in [0, 1].
        seeds: (M, C, H, W) starting images of the optimisation.
        targets: (M, C, H, W) the natural images the metamers were matched to.
        target_ids: M stimulus ids of the targets.
        target_labels: (M,) int class of each target, -1 when unknown.
        generators: M model specs; jointly generated metamers join specs with ``"+"``.
        layers: M layer names; several layers at once are joined with ``"+"``.
        inits: M starting-point names (``"noise"``, ``"blend"``, ...).
        regularizers: M regularizer names (``"none"``, ``"human_leaning"``, ``"adversarial"``, ...).
        optimizers: M optimizer names.
        repeats: (M,) int index of the random seed repeat (two metamers of one target differ here).
        final_distance: (M,) representation distance at the end (after 8-bit quantisation).
        success: (M,) bool, the metamer criterion holds for the 8-bit image.
        steps_to_success: (M,) int steps until the criterion first held, -1 when it never did.
        history: ``{"step": (S,), "loss": (S, M)}`` subsampled loss curves (may be empty).
        wall_time: seconds spent generating.
        config: the full recipe (JSON-able).
    """

    images: torch.Tensor
    seeds: torch.Tensor
    targets: torch.Tensor
    target_ids: list[str]
    target_labels: np.ndarray
    generators: list[str]
    layers: list[str]
    inits: list[str]
    regularizers: list[str]
    optimizers: list[str]
    repeats: np.ndarray
    final_distance: np.ndarray
    success: np.ndarray
    steps_to_success: np.ndarray
    history: dict[str, np.ndarray] = field(default_factory=dict)
    wall_time: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = None
        for name in _IMAGES:
            img = check_images(getattr(self, name), f"MetamerResult.{name}")
            img = img.detach().to("cpu", torch.float32)
            if m is None:
                m, shape = img.shape[0], img.shape
            elif img.shape != shape:
                raise ShapeError(
                    f"MetamerResult.{name} has shape {tuple(img.shape)}, expected {tuple(shape)} "
                    "like images."
                )
            setattr(self, name, img)
        for name, kind in _COLUMNS.items():
            col = getattr(self, name)
            col = [str(v) for v in col] if kind == "str" else np.asarray(col).astype(kind)
            if len(col) != m:
                raise ShapeError(f"MetamerResult.{name} has {len(col)} entries, expected {m}.")
            setattr(self, name, col)
        self.history = {k: np.asarray(v) for k, v in self.history.items()}

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def table(self) -> pd.DataFrame:
        """One row per metamer with its recipe and outcome (tidy long format)."""
        df = pd.DataFrame({name: getattr(self, name) for name in _COLUMNS})
        df.insert(0, "index", np.arange(len(self)))
        return df

    def summary(self, by: Sequence[str] = ("generators", "layers", "regularizers", "inits")) -> pd.DataFrame:
        """Per recipe group: count, success rate, median steps to success (over successes) and
        median final distance.

        Example:
            >>> res.summary()  # doctest: +SKIP
        """
        df = self.table()
        df["steps"] = df["steps_to_success"].where(df["success"] & (df["steps_to_success"] >= 0))
        out = df.groupby(list(by), sort=False).agg(
            n=("index", "size"),
            success_rate=("success", "mean"),
            median_steps=("steps", "median"),
            median_distance=("final_distance", "median"),
        )
        return out.reset_index()

    def subset(self, index: Sequence[int] | np.ndarray) -> MetamerResult:
        """The selected metamers (boolean mask or integer index), history columns included."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ShapeError(f"mask must have {len(self)} entries, received {idx.shape}.")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        t = torch.as_tensor(idx)
        kw: dict[str, Any] = {n: getattr(self, n)[t] for n in _IMAGES}
        for name, kind in _COLUMNS.items():
            col = getattr(self, name)
            kw[name] = [col[i] for i in idx] if kind == "str" else col[idx]
        hist = dict(self.history)
        if "loss" in hist and hist["loss"].ndim == 2:
            hist["loss"] = hist["loss"][:, idx]
        return MetamerResult(**kw, history=hist, wall_time=self.wall_time, config=dict(self.config))

    @classmethod
    def concat(cls, results: Sequence[MetamerResult]) -> MetamerResult:
        """Stack several results (e.g. one per recipe of a grid) into one; histories are dropped
        unless they share their steps."""
        results = list(results)
        if not results:
            raise ShapeError("concat needs at least one MetamerResult.")
        kw: dict[str, Any] = {n: torch.cat([getattr(r, n) for r in results]) for n in _IMAGES}
        for name, kind in _COLUMNS.items():
            cols = [getattr(r, name) for r in results]
            kw[name] = list(itertools.chain(*cols)) if kind == "str" else np.concatenate(cols)
        hist: dict[str, np.ndarray] = {}
        if all("step" in r.history and "loss" in r.history for r in results):
            steps = results[0].history["step"]
            if all(np.array_equal(steps, r.history["step"]) for r in results):
                loss = np.concatenate([r.history["loss"] for r in results], axis=1)
                hist = {"step": steps, "loss": loss}
        return cls(
            **kw,
            history=hist,
            wall_time=float(sum(r.wall_time for r in results)),
            config={"concat": [r.config for r in results]},
        )

    # -- storage --------------------------------------------------------------------------------
    def save(self, directory: str | Path, *, png: bool = True) -> Path:
        """Write ``result.npz`` (images and columns), ``result.json`` (config, strings) and,
        with ``png``, ``png/{i:05d}_{metamer,seed,target}.png``. Files are written atomically."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        arrays = {n: getattr(self, n).numpy() for n in _IMAGES}
        for name, kind in _COLUMNS.items():
            if kind != "str":
                arrays[name] = getattr(self, name)
        for k, v in self.history.items():
            arrays[f"history_{k}"] = v
        with atomic_path(out / "result.npz") as tmp:
            np.savez_compressed(tmp, **arrays)
        meta = {
            "format": "repalign.MetamerResult/1",
            "n": len(self),
            "wall_time": self.wall_time,
            "config": self.config,
            **{n: getattr(self, n) for n, k in _COLUMNS.items() if k == "str"},
        }
        atomic_write_text(out / "result.json", json.dumps(meta, indent=1, default=str))
        if png:
            (out / "png").mkdir(exist_ok=True)
            for i in range(len(self)):
                for n, tag in zip(_IMAGES, ("metamer", "seed", "target"), strict=True):
                    arr = (getattr(self, n)[i].permute(1, 2, 0).numpy() * 255.0).round()
                    arr = arr.clip(0, 255).astype(np.uint8)
                    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
                    with atomic_path(out / "png" / f"{i:05d}_{tag}.png") as tmp:
                        img.save(tmp, format="PNG")
        return out

    @classmethod
    def load(cls, directory: str | Path) -> MetamerResult:
        """Read a result written by :meth:`save`."""
        d = Path(directory)
        npz, js = d / "result.npz", d / "result.json"
        if not npz.is_file() or not js.is_file():
            raise DataFormatError(
                f"{d} is not a saved MetamerResult: expected result.npz and result.json in it."
            )
        meta = json.loads(js.read_text())
        if meta.get("format") != "repalign.MetamerResult/1":
            raise DataFormatError(f"{js}: unknown format {meta.get('format')!r}.")
        with np.load(npz) as z:
            kw: dict[str, Any] = {n: torch.from_numpy(z[n]) for n in _IMAGES}
            for name, kind in _COLUMNS.items():
                kw[name] = meta[name] if kind == "str" else z[name]
            hist = {k[len("history_"):]: z[k] for k in z.files if k.startswith("history_")}
        return cls(**kw, history=hist, wall_time=float(meta["wall_time"]), config=meta["config"])

    def __repr__(self) -> str:
        return (
            f"MetamerResult(n={len(self)}, generators={sorted(set(self.generators))}, "
            f"layers={sorted(set(self.layers))}, success={self.success.mean() if len(self) else 0:.2f})"
        )

