"""Few-shot transfer of frozen features (seed 000): n examples per class, the rest to evaluate.

Three heads, as in Sucholutsky & Griffiths:

- ``"linear"``: logistic regression (scikit-learn, L-BFGS, C=1, up to 2,000 iterations);
- ``"mlp1"``: a one-layer PyTorch head ``Dropout(0.8) -> Linear(D, C)``;
- ``"mlp2"``: a two-layer head ``Dropout(0.8) -> Linear(D, H) -> ReLU -> Linear(H, C)``.

The PyTorch heads train full-batch with Adam (lr 1e-2, 100 epochs, H = 256 by default); the
heads of all repeats train together as one batched problem.

The features go to the heads as they are, as in seed 000 ("we take the embeddings ... and fit a
logistic regression using scikit-learn"): the linear head is then plain scikit-learn's
``LogisticRegression`` on the same split. ``standardize=True`` scales every dimension by the mean
and sd of the training examples only (scikit-learn's ``StandardScaler``) first, which changes
the accuracies noticeably with few shots (the mean and sd come from n examples per class). For
each repeat, exactly ``n`` examples of every class are drawn for training and all the others are
evaluated; the draws depend only on ``seed``, the repeat and ``n``, so two feature sets of the
same stimuli (two models) are compared on the same examples.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat(np.arange(3), 30)
    >>> feats = rng.normal(size=(90, 8)) + labels[:, None]
    >>> df = few_shot(feats, labels, shots=(1, 5), heads=("linear",), repeats=3, seed=0)
    >>> df[["head", "shots", "repeats"]].values.tolist()
    [['linear', 1, 3], ['linear', 5, 3]]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from repalign._device import resolve_device
from repalign._progress import progress
from repalign._registry import unknown_name_message
from repalign._validation import as_array, check_same_length, describe
from repalign.errors import ConfigError, ShapeError, UnknownNameError

__all__ = ["HEADS", "few_shot", "few_shot_runs", "sample_shots"]

log = logging.getLogger(__name__)

HEADS = ("linear", "mlp1", "mlp2")
INPUT_DROPOUT = 0.8


def sample_shots(labels: Any, shots: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw exactly ``shots`` training examples of every class; the rest are for evaluation.

    Args:
        labels: (N,) integer class labels.
        shots: examples per class for training (>= 1).
        seed: random seed.

    Returns:
        ``(train_index, test_index)``, sorted row indices; every class has exactly ``shots``
        rows in ``train_index`` and at least one in ``test_index``.

    Raises:
        ShapeError: a class has fewer than ``shots + 1`` examples.
    """
    y = np.asarray(labels)
    classes, counts = np.unique(y, return_counts=True)
    short = classes[counts <= shots]
    if len(short):
        raise ShapeError(
            f"{shots}-shot learning needs more than {shots} examples in every class (so that one "
            f"is left to evaluate), but class(es) {short.tolist()[:10]} have "
            f"{counts[counts <= shots].tolist()[:10]}; lower shots or add examples."
        )
    rng = np.random.default_rng(seed)
    train = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:shots] for c in classes])
    mask = np.zeros(len(y), dtype=bool)
    mask[train] = True
    return np.sort(train), np.flatnonzero(~mask)


def _init_linear(r: int, fan_in: int, fan_out: int, gen: torch.Generator) -> list[torch.Tensor]:
    """(R, fan_in, fan_out) weights and (R, 1, fan_out) biases, torch.nn.Linear's default init."""
    bound = 1.0 / fan_in**0.5
    w = (torch.rand(r, fan_in, fan_out, generator=gen) * 2 - 1) * bound
    b = (torch.rand(r, 1, fan_out, generator=gen) * 2 - 1) * bound
    return [w, b]


def _fit_heads(
    xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, n_classes: int, layers: int, *,
    hidden: int, epochs: int, lr: float, weight_decay: float, seed: int, device: torch.device,
) -> np.ndarray:  # fmt: skip
    """Train R independent heads at once (one per repeat), full batch, Adam.

    Adam's update is element-wise, so summing the R losses trains each head exactly as if it
    were trained alone.

    Args:
        xtr: (R, n_train, D) training features of each repeat.
        ytr: (R, n_train) labels.
        xte: (R, n_test, D) evaluation features.

    Returns:
        (R, n_test) predicted labels.
    """
    r, _, d = xtr.shape
    gen = torch.Generator().manual_seed(seed)
    dims = [d, n_classes] if layers == 1 else [d, hidden, n_classes]
    params = [
        t.to(device).requires_grad_()
        for i in range(len(dims) - 1)
        for t in _init_linear(r, dims[i], dims[i + 1], gen)
    ]
    masks_gen = torch.Generator(device=device).manual_seed(seed + 1)

    def forward(x: torch.Tensor, train: bool) -> torch.Tensor:
        if train:  # input dropout, drawn from our own generator for reproducibility
            keep = torch.rand(x.shape, generator=masks_gen, device=device) >= INPUT_DROPOUT
            x = x * keep / (1.0 - INPUT_DROPOUT)
        for i in range(0, len(params), 2):
            x = torch.baddbmm(params[i + 1], x, params[i])
            if i + 2 < len(params):
                x = torch.relu(x)
        return x

    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    xt = torch.as_tensor(xtr, dtype=torch.float32, device=device)
    yt = torch.as_tensor(ytr, dtype=torch.long, device=device)
    for _ in range(epochs):
        opt.zero_grad(set_to_none=True)
        logits = forward(xt, True)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, n_classes), yt.reshape(-1), reduction="none"
        ).view(r, -1).mean(1).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = forward(torch.as_tensor(xte, dtype=torch.float32, device=device), False)
    return out.argmax(-1).cpu().numpy()


def few_shot_runs(
    features: Any,
    labels: Any,
    shots: Sequence[int] = (1, 5, 10, 20, 40, 80),
    heads: Sequence[str] = HEADS,
    repeats: int = 5,
    seed: int = 0,
    *,
    hidden: int = 256,
    epochs: int = 100,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    standardize: bool = False,
    device: str | None = "auto",
    quiet: bool = True,
) -> pd.DataFrame:
    """Every few-shot run: one row per head, shots and repeat (see :func:`few_shot`).

    Returns:
        DataFrame with columns ``head``, ``shots``, ``repeat``, ``accuracy``, ``n_train``,
        ``n_test``.
    """
    x = as_array(features, "features", ndim=2, min_rows=2)
    y_raw = np.asarray(labels)
    if y_raw.ndim != 1:
        raise ShapeError(f"labels must be (N,) class labels, received {describe(y_raw)}.")
    check_same_length(features=x, labels=y_raw)
    classes, y = np.unique(y_raw, return_inverse=True)
    if len(classes) < 2:
        raise ShapeError(f"few-shot learning needs at least 2 classes, received {len(classes)}.")
    for h in heads:
        if h not in HEADS:
            raise UnknownNameError(unknown_name_message("few-shot head", str(h), list(HEADS)))
    bad = [s for s in shots if not isinstance(s, (int, np.integer)) or s < 1]
    if bad or repeats < 1:
        raise ConfigError(f"shots must be integers >= 1 and repeats >= 1, received {list(shots)}, {repeats}.")
    dev = resolve_device(device)
    for s in shots:  # fail before any work when a class is too small
        sample_shots(y, int(s), seed)
    rows = []
    for s in progress([int(v) for v in shots], quiet=quiet, desc="few-shot"):
        splits = [sample_shots(y, s, seed * 1_000_003 + s * 1009 + r) for r in range(repeats)]
        scaled = []
        for train, test in splits:
            if standardize:
                scaler = StandardScaler().fit(x[train])
                scaled.append((scaler.transform(x[train]), scaler.transform(x[test])))
            else:
                scaled.append((x[train], x[test]))
        for h in heads:
            if h == "linear":
                preds = [
                    LogisticRegression(C=1.0, max_iter=2000).fit(xtr, y[train]).predict(xte)
                    for (xtr, xte), (train, _) in zip(scaled, splits, strict=True)
                ]
            else:
                preds = list(_fit_heads(
                    np.stack([a for a, _ in scaled]), np.stack([y[tr] for tr, _ in splits]),
                    np.stack([b for _, b in scaled]), len(classes), 1 if h == "mlp1" else 2,
                    hidden=hidden, epochs=epochs, lr=lr, weight_decay=weight_decay,
                    seed=seed * 7919 + s, device=dev,
                ))  # fmt: skip
            for r, ((train, test), pred) in enumerate(zip(splits, preds, strict=True)):
                rows.append({
                    "head": h, "shots": s, "repeat": r,
                    "accuracy": float((pred == y[test]).mean()),
                    "n_train": len(train), "n_test": len(test),
                })  # fmt: skip
    return pd.DataFrame(rows)


def few_shot(
    features: Any,
    labels: Any,
    shots: Sequence[int] = (1, 5, 10, 20, 40, 80),
    heads: Sequence[str] = HEADS,
    repeats: int = 5,
    seed: int = 0,
    **options: Any,
) -> pd.DataFrame:
    """Few-shot transfer accuracy of frozen features, mean and sd over repeats.

    Args:
        features: (N, D) features (e.g. a model's penultimate layer on unseen classes).
        labels: (N,) class labels.
        shots: examples per class used for training; every other example is evaluated.
        heads: any of ``"linear"``, ``"mlp1"``, ``"mlp2"``.
        repeats: independent draws of the training examples per ``shots``.
        seed: makes the draws and the head initialisations reproducible.
        **options: ``standardize`` (False: the features as given, seed 000's protocol; True:
            z-scored with the training examples' mean and sd), and for the PyTorch heads
            ``hidden`` (256), ``epochs`` (100), ``lr`` (1e-2), ``weight_decay`` (0),
            ``device`` ("auto"), ``quiet`` (see :func:`few_shot_runs`).

    Returns:
        Tidy DataFrame, one row per head and shots: ``head``, ``shots``, ``metric``
        (``"accuracy"``), ``mean``, ``sd`` (ddof 1; 0 for one repeat), ``repeats``,
        ``n_train``, ``n_test``.

    Raises:
        ShapeError: mismatched lengths, NaN features, a class with ``shots`` or fewer examples.
        UnknownNameError: unknown head.
    """
    runs = few_shot_runs(features, labels, shots, heads, repeats, seed, **options)
    out = (
        runs.groupby(["head", "shots"], sort=False)
        .agg(mean=("accuracy", "mean"), sd=("accuracy", "std"), repeats=("accuracy", "size"),
             n_train=("n_train", "first"), n_test=("n_test", "first"))
        .reset_index()
    )  # fmt: skip
    out["sd"] = out["sd"].fillna(0.0)
    out.insert(2, "metric", "accuracy")
    return out.sort_values(["head", "shots"], key=lambda c: c.map(
        {h: i for i, h in enumerate(HEADS)}) if c.name == "head" else c, kind="stable"
    ).reset_index(drop=True)
