"""The result of :func:`~repalign.embedding.fit_embedding`, and its files."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repalign._io import atomic_path, atomic_write_text
from repalign.errors import DataFormatError

__all__ = ["EmbeddingResult"]


@dataclass(frozen=True, eq=False)
class EmbeddingResult:
    """An embedding fitted to odd-one-out triplets.

    Attributes:
        weights: (n_objects, d) float32 embedding, kept dimensions only, ordered by decreasing
            total weight (SPoSE, VICE) or as fitted (cblearn methods). Rows of objects that occur
            in no training triplet stay at their initial value (zero for cblearn methods).
        method: ``"spose"``, ``"vice"``, ``"soe"``, ``"tste"`` or ``"ckl"``.
        similarity: how the embedding predicts choices: ``"dot"`` (SPoSE, VICE: the most
            similar pair has the largest dot product) or ``"euclidean"`` (cblearn methods: the
            smallest distance).
        dims: dimensions the fit started with.
        kept: (d,) indices of the kept dimensions among the ``dims`` fitted, in the order of
            the columns of ``weights``.
        history: one dict per epoch (``epoch``, ``train_nll``, ``complexity``,
            ``train_accuracy``, ``dims``, ``val_nll``, ``val_accuracy``, ``seconds``); one row
            for cblearn methods. ``train_nll`` and ``train_accuracy`` are over the epoch's
            batches as they were fitted (VICE: under each step's posterior sample);
            ``val_*`` use the point estimate with all dimensions (SPoSE's ``W``, VICE's
            ``relu(mu)``), ``dims`` counts the dimensions kept at that epoch.
        val_accuracy: odd-one-out accuracy of ``weights`` on the held-out triplets (ties
            count as wrong), or None when nothing was held out.
        train_accuracy: the same on the training triplets.
        n_train: training triplets.
        n_val: held-out triplets.
        converged: True when the method's stopping rule ended the fit (VICE's dimension
            stability), False when it ran out of epochs or has no rule.
        seed: the random seed.
        settings: every option the fit used.
        scale: (n_objects, d) posterior standard deviations (VICE) or None.
    """

    weights: np.ndarray
    method: str
    similarity: str
    dims: int
    kept: np.ndarray
    history: list[dict[str, float]]
    val_accuracy: float | None
    train_accuracy: float
    n_train: int
    n_val: int
    converged: bool
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)
    scale: np.ndarray | None = None

    @property
    def n_dims(self) -> int:
        """Number of kept dimensions."""
        return int(self.weights.shape[1])

    def summary(self) -> dict[str, Any]:
        """Everything but the arrays, as JSON-ready values."""
        out = {k: v for k, v in asdict(self).items() if k not in ("weights", "scale", "kept")}
        out["kept"] = [int(i) for i in self.kept]
        out["n_objects"] = int(self.weights.shape[0])
        out["n_dims"] = self.n_dims
        return out

    def save(self, folder: str | Path) -> Path:
        """Write ``embedding.npy`` (and ``scale.npy`` for VICE) and ``summary.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "embedding.npy") as tmp:
            np.save(tmp, self.weights)
        if self.scale is not None:
            with atomic_path(folder / "scale.npy") as tmp:
                np.save(tmp, self.scale)
        atomic_write_text(folder / "summary.json", json.dumps(self.summary(), indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> EmbeddingResult:
        """Read a folder written by :meth:`save`."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
            weights = np.load(folder / "embedding.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"{folder}: not an embedding folder ({exc}).") from exc
        scale_path = folder / "scale.npy"
        scale = np.load(scale_path, allow_pickle=False) if scale_path.is_file() else None
        fields = {k: meta[k] for k in ("method", "similarity", "dims", "history", "val_accuracy",
                                       "train_accuracy", "n_train", "n_val", "converged", "seed",
                                       "settings")}
        return cls(weights=weights, kept=np.asarray(meta["kept"], dtype=np.int64), scale=scale,
                   **fields)
