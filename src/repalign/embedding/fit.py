"""``fit_embedding``: one call for every way repalign learns an embedding from triplets.

Example:
    >>> import numpy as np, repalign as ra
    >>> from repalign.alignment.simulate import simulate_observer
    >>> truth = np.random.default_rng(0).gamma(1.0, size=(30, 4))
    >>> sim = simulate_observer(truth, 3000, seed=0)
    >>> res = ra.fit_embedding(sim.triplets, 30, method="spose", dims=10, epochs=5, quiet=True)
    >>> res.weights.shape[0], res.method
    (30, 'spose')
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repalign._device import resolve_device
from repalign._hashing import hash_array, hash_params
from repalign._registry import unknown_name_message
from repalign._validation import as_array, check_count
from repalign.data.triplets import TripletSet, check_triplets
from repalign.embedding._train import TrainSettings, train
from repalign.embedding.cblearn_backend import CBLEARN_METHODS, fit_cblearn
from repalign.embedding.models import VICE, SPoSE, SPoSEOptions, VICEOptions
from repalign.embedding.result import EmbeddingResult
from repalign.embedding.vice_prior import converged
from repalign.errors import ConfigError, ShapeError, UnknownNameError

__all__ = ["METHODS", "fit_embedding", "split_triplets"]

log = logging.getLogger(__name__)

METHODS = ("spose", "vice", *CBLEARN_METHODS)
# published defaults: SPoSE (Hebart et al. 2020 code), VICE (LukasMut/VICE README)
_DEFAULTS = {"spose": {"epochs": 500, "batch_size": 100, "lr": 1e-3},
             "vice": {"epochs": 2000, "batch_size": 128, "lr": 1e-3}}


def split_triplets(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n)`` into sorted (train, held-out) indices."""
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"val_fraction must be in [0, 1), received {val_fraction!r}.")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = round(val_fraction * n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _as_triplets(triplets: Any, n_objects: int | None, name: str) -> tuple[np.ndarray, int]:
    if isinstance(triplets, TripletSet):
        if n_objects is not None and n_objects != triplets.n_objects:
            raise ShapeError(
                f"n_objects={n_objects} but the {name} TripletSet has n_objects="
                f"{triplets.n_objects}; pass the same number or leave n_objects out."
            )
        return triplets.triplets, triplets.n_objects
    if n_objects is None:
        raise ConfigError(
            f"n_objects is required when {name} are an array (repalign does not guess it from "
            "the largest index); pass the number of objects, e.g. 1854 for THINGS."
        )
    n = check_count(n_objects, "n_objects", minimum=3)
    return check_triplets(triplets, n, name=name), n


def _fingerprint(train_t: np.ndarray, val_t: np.ndarray, settings: dict[str, Any]) -> str:
    keep = {k: v for k, v in settings.items() if k not in ("epochs", "quiet", "device")}
    return hash_params({"train": hash_array(train_t), "val": hash_array(val_t), "settings": keep})


def _accuracy(weights: np.ndarray, triplets: np.ndarray, similarity: str) -> float:
    if len(triplets) == 0:
        return float("nan")
    if weights.shape[1] == 0:
        return 0.0  # every pair ties, and ties count as wrong
    from repalign.similarity.triplets import odd_one_out_accuracy

    return float(odd_one_out_accuracy(weights, triplets, similarity))


def fit_embedding(
    triplets: Any,
    n_objects: int | None = None,
    *,
    method: str = "vice",
    dims: int = 100,
    seed: int = 0,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    val_fraction: float = 0.1,
    val_triplets: Any = None,
    device: str | torch.device | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_seconds: float = 60.0,
    quiet: bool = False,
    init: Any = None,
    **options: Any,
) -> EmbeddingResult:
    """Learn an embedding of ``n_objects`` objects from odd-one-out triplets.

    Methods: ``"spose"`` (non-negative, L1-sparse; Zheng et al. 2019, Hebart et al. 2020),
    ``"vice"`` (variational, spike-and-slab prior, pruning by posterior importance, stops when
    the number of dimensions is stable; Muttenthaler et al. 2022), and ``"soe"``, ``"tste"``,
    ``"ckl"`` from cblearn (``pip install 'repalign[embedding]'``).

    Args:
        triplets: (T, 3) 0-based indices in the (pair, pair, odd-one-out) layout, or a
            :class:`~repalign.data.TripletSet` (e.g. from ``load_triplets``).
        n_objects: number of objects; required for arrays, optional for a TripletSet.
        method: one of :data:`METHODS`.
        dims: dimensions to start from (SPoSE, VICE prune them) or to fit (cblearn).
        seed: seeds the held-out split, the initialisation, the shuffles and VICE's samples.
        epochs: maximum passes over the data (SPoSE 500, VICE 2000 by default; cblearn
            methods use their own ``max_iter`` option instead).
        batch_size: triplets per step (SPoSE 100, VICE 128).
        lr: Adam's learning rate (0.001).
        val_fraction: share of ``triplets`` held out (seeded) to measure accuracy; ignored when
            ``val_triplets`` is given.
        val_triplets: explicit held-out triplets (array or TripletSet).
        device: ``"cpu"``, ``"cuda"``, ... or None for CUDA when available.
        checkpoint: file to checkpoint to; a fit started again with the same arguments resumes
            from it (SPoSE, VICE).
        checkpoint_seconds: save at most this often (and at the end).
        quiet: no progress bar.
        init: warm start (SPoSE, VICE): an earlier :class:`EmbeddingResult` of the same method
            (its weights, and VICE's scales) or an (n_objects, dims) array; ``dims`` must match
            its columns.
        **options: method options: SPoSE ``lam``, ``init_mean``, ``init_std``,
            ``prune_threshold``; VICE ``prior``, ``spike``, ``slab``, ``pi``, ``k``, ``alpha``,
            ``window``, ``burnin``; cblearn estimator arguments (``max_iter``, ...).

    Returns:
        :class:`EmbeddingResult`.

    Raises:
        UnknownNameError: unknown method. ShapeError / ConfigError: bad triplets or options.
    """
    if method not in METHODS:
        raise UnknownNameError(unknown_name_message("embedding method", str(method), list(METHODS)))
    t_all, n = _as_triplets(triplets, n_objects, "triplets")
    dims = check_count(dims, "dims")
    if val_triplets is not None:
        val_t, _ = _as_triplets(val_triplets, n, "val_triplets")
        train_t = t_all
    else:
        tr, va = split_triplets(len(t_all), val_fraction, seed)
        train_t, val_t = t_all[tr], t_all[va]
    if len(train_t) == 0:
        raise ShapeError(f"no training triplets left (received {len(t_all)}, held out {len(val_t)}).")
    if method in CBLEARN_METHODS:
        if init is not None:
            raise ConfigError(f"init (a warm start) is for spose and vice, not {method!r}.")
        return _fit_cblearn(method, train_t, val_t, n, dims, seed, options)
    defaults = _DEFAULTS[method]
    epochs = check_count(defaults["epochs"] if epochs is None else epochs, "epochs")
    batch_size = check_count(defaults["batch_size"] if batch_size is None else batch_size, "batch_size")
    lr = float(defaults["lr"] if lr is None else lr)
    if not lr > 0:
        raise ConfigError(f"lr must be > 0, received {lr!r}.")
    try:
        opts: SPoSEOptions | VICEOptions = (SPoSEOptions if method == "spose" else VICEOptions)(**options)
    except TypeError as exc:
        raise ConfigError(f"unknown {method} option ({exc}).") from exc
    dev = resolve_device(device)
    settings = {"method": method, "dims": dims, "seed": seed, "epochs": epochs,
                "batch_size": batch_size, "lr": lr, "n_objects": n, "device": str(dev),
                **vars(opts)}
    shuffle_gen = torch.Generator().manual_seed(seed)
    sample_gen = torch.Generator(dev).manual_seed(seed + 1)
    model_cls = SPoSE if method == "spose" else VICE
    start = _check_init(init, n, dims, method)
    if start is not None:
        settings["init_sha256"] = hash_array(np.asarray(start[0]))
    model = model_cls(n, dims, opts, generator=shuffle_gen, device=dev, dtype=torch.float32,  # type: ignore[arg-type]
                      init=start)
    stop = None
    if isinstance(opts, VICEOptions):
        window, burnin = opts.window, opts.burnin
        stop = lambda d, epoch: epoch > burnin and converged(d, window)  # noqa: E731
    run = TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr, stop=stop,
                        checkpoint=None if checkpoint is None else Path(checkpoint),
                        checkpoint_seconds=checkpoint_seconds, quiet=quiet)
    train_dev = torch.tensor(train_t, device=dev)  # a copy: TripletSet arrays are read-only
    val_dev = torch.tensor(val_t, device=dev) if len(val_t) else None
    history, stopped = train(model, train_dev, val_dev, run, shuffle_gen=shuffle_gen,
                             sample_gen=sample_gen, fingerprint=_fingerprint(train_t, val_t, settings))
    kept = model.kept_dimensions()
    emb = model.embedding()[:, torch.as_tensor(kept, device=dev)].cpu().numpy().astype(np.float32)
    order = np.argsort(-emb.sum(0), kind="stable")
    kept, emb = kept[order], emb[:, order]
    scale = model.scale()[:, torch.as_tensor(kept, device=dev)].cpu().numpy() if isinstance(model, VICE) else None
    if len(kept) == 0:
        warnings.warn(f"{method} kept no dimension; the embedding is empty. Fit longer, or with "
                      "weaker sparsity.", stacklevel=2)
    val_acc = _accuracy(emb, val_t, "dot") if len(val_t) else None
    unpruned = history[-1].get("val_accuracy") if history else None
    if val_acc is not None and unpruned is not None and val_acc < unpruned - 0.02:
        warnings.warn(
            f"{method} kept {len(kept)} of {dims} dimensions, and the kept ones predict the "
            f"held-out triplets worse than all of them ({val_acc:.3f} against {unpruned:.3f}); "
            "with few triplets per object the pruning rule has little power: more triplets, "
            + ("or prune=False." if method == "vice" else "or a smaller lam."), stacklevel=2)
    return EmbeddingResult(
        weights=emb, method=method, similarity="dot", dims=dims, kept=kept, history=history,
        val_accuracy=val_acc,
        train_accuracy=_accuracy(emb, train_t, "dot"), n_train=len(train_t), n_val=len(val_t),
        converged=stopped, seed=seed, settings=settings, scale=scale,
    )


def _check_init(init: Any, n: int, dims: int, method: str
                ) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(weights, scales or None) of a warm start, checked against n_objects and dims."""
    if init is None:
        return None
    if isinstance(init, EmbeddingResult):
        if init.method != method:
            raise ConfigError(f"init is a {init.method!r} fit; a {method!r} fit can only start "
                              f"from a {method!r} fit or an array.")
        weights, scale = init.weights, init.scale
    else:
        weights, scale = as_array(init, "init", ndim=2, dtype=np.float32), None
    if weights.shape != (n, dims):
        raise ShapeError(f"init must be ({n}, {dims}) (n_objects, dims), received {weights.shape}; "
                         "pass dims=init.shape[1].")
    if scale is not None and (scale.shape != weights.shape or not (scale > 0).all()):
        raise ShapeError("init's scale must be positive and shaped like its weights.")
    return np.asarray(weights), None if scale is None else np.asarray(scale)


def _fit_cblearn(method: str, train_t: np.ndarray, val_t: np.ndarray, n: int, dims: int,
                 seed: int, options: dict[str, Any]) -> EmbeddingResult:
    t0 = time.perf_counter()
    emb, info = fit_cblearn(method, train_t, n, dims, seed, **options)
    val_acc = _accuracy(emb, val_t, "euclidean") if len(val_t) else None
    train_acc = _accuracy(emb, train_t, "euclidean")
    row = {"epoch": 1.0, "objective": info["objective"], "iterations": info["iterations"],
           "train_accuracy": train_acc, "dims": float(dims), "seconds": time.perf_counter() - t0}
    if val_acc is not None:
        row["val_accuracy"] = val_acc
    settings = {"method": method, "dims": dims, "seed": seed, "n_objects": n, **options}
    return EmbeddingResult(
        weights=emb, method=method, similarity="euclidean", dims=dims,
        kept=np.arange(dims, dtype=np.int64), history=[row], val_accuracy=val_acc,
        train_accuracy=train_acc, n_train=len(train_t), n_val=len(val_t), converged=False,
        seed=seed, settings=settings,
    )
