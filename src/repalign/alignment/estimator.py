"""The :class:`GLocal` estimator: post-hoc alignment of features to human odd-one-out triplets."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from repalign._device import resolve_device
from repalign._validation import as_array, describe, to_numpy
from repalign.alignment._train import TrainConfig, train_glocal
from repalign.data.triplets import TripletSet, check_triplets
from repalign.errors import ConfigError, NotFittedError, ShapeError
from repalign.similarity.triplets import odd_one_out_accuracy

__all__ = ["GLocal", "fit_triplets"]

log = logging.getLogger(__name__)


def _features(x: Any, name: str, n_features: int | None = None) -> np.ndarray:
    """Validate an (N, D) dense, real, finite feature matrix (D >= 1) and return float64."""
    if scipy.sparse.issparse(x):
        raise ShapeError(f"{name}: sparse input is not supported; pass a dense array (x.toarray()).")
    x = to_numpy(x) if x is not None else x
    if x is not None and np.iscomplexobj(x):
        raise ShapeError(f"{name}: Complex data not supported; pass real-valued features ({describe(x)}).")
    if np.ndim(x) == 1:
        raise ShapeError(
            f"{name} must be (N, D) features, received {describe(np.asarray(x))}. Reshape your "
            "data with x.reshape(-1, 1) for one feature or x.reshape(1, -1) for one sample."
        )
    arr = as_array(x, name, ndim=2)
    if arr.shape[1] == 0:
        raise ShapeError(
            f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required; pass "
            "(N, D) features."
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise ShapeError(
            f"X has {arr.shape[1]} features, but GLocal is expecting {n_features} features as "
            "input (the number it was fitted on); pass features from the same model and layer."
        )
    return arr


def fit_triplets(triplets: Any, n_objects: int, name: str) -> np.ndarray:
    """The odd-one-out triplets a gLocal fit accepts, as an int64 array.

    Args:
        triplets: (T, 3) object indices (the odd one out last) or a
            :class:`~repalign.data.TripletSet`, which must number ``n_objects`` objects.
        n_objects: rows of the features the triplets index.
        name: what to call the input in messages.

    Returns:
        (T, 3) int64 triplets, T >= 1.

    Raises:
        ShapeError: None, empty, not (T, 3) integer indices below ``n_objects``, or a
            TripletSet over another number of objects.
    """
    if triplets is None:
        raise ShapeError(
            f"GLocal requires y to be passed, but the target y is None: pass the (T, 3) "
            f"odd-one-out {name} (or a TripletSet) as the second argument of fit."
        )
    if isinstance(triplets, TripletSet) and triplets.n_objects != n_objects:
        raise ShapeError(
            f"{name} refer to {triplets.n_objects} objects but X has {n_objects} rows; the rows "
            "of X must be the objects in the triplets' numbering (see TripletSet.remap)."
        )
    arr = check_triplets(triplets, n_objects, name=name)
    if len(arr) == 0:
        raise ShapeError(f"{name} is empty; at least one (pair, pair, odd-one-out) triplet is needed.")
    return arr


class GLocal(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """gLocal: an affine map of a model's features fitted to human odd-one-out judgements.

    Features are standardised with one scalar mean and std over all entries, then mapped as
    ``z = ((x - mean) / std) @ W + b``. ``W`` starts at ``init_scale * I`` and is fitted by
    minibatch Adam (or SGD with momentum 0.9) on::

        (1 - alpha) * global + alpha * local + lam * ||W - mean(diag W) I||_F^2

    where *global* is the cross-entropy of the softmax over the three pairwise dot products of
    each training triplet (the pair humans chose comes first) and *local* is the cross-entropy
    between the cosine-similarity distributions (diagonal removed, temperature ``tau``) of the
    original and the transformed features of auxiliary stimuli. Training stops early when the
    loss on held-out triplets has not improved by 1e-4 for ``patience`` epochs; the best epoch's
    transform is kept. See :mod:`repalign.alignment.losses` for the terms.

    Args:
        alpha: weight of the local term in [0, 1]; 0 fits the global term only.
        lam: weight of the pull towards a scaled identity (>= 0).
        tau: temperature of the local term (> 0).
        lr: learning rate.
        optimizer: ``"adam"`` or ``"sgd"`` (momentum 0.9).
        max_epochs: maximum passes over the training triplets.
        patience: epochs without improvement of the held-out loss before stopping.
        min_epochs: epochs always run before early stopping may stop.
        batch_size: triplets per step.
        local_batch_size: auxiliary stimuli per step (all of them when fewer).
        init_scale: ``W`` starts at ``init_scale * I`` (and ``b`` at 0).
        fit_bias: learn the offset ``b``.
        grad_clip: clip the gradient norm to this value (None: no clipping).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        random_state: seed of the shuffles and of the validation split.
        quiet: hide the progress bar.

    Attributes:
        W_: (D, D) fitted weights.
        b_: (D,) fitted offset (zeros when ``fit_bias=False``).
        mean_: scalar mean of the training features.
        std_: scalar std of the training features.
        history_: DataFrame, one row per epoch (train loss and its terms, validation loss and
            accuracy, seconds).
        best_epoch_: epoch whose weights were kept.
        n_features_in_: D.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(30, 8))
        >>> triplets = np.array([rng.choice(30, 3, replace=False) for _ in range(200)])
        >>> aligner = GLocal(max_epochs=3, device="cpu").fit(x, triplets)
        >>> aligner.transform(x).shape
        (30, 8)
    """

    def __init__(
        self,
        alpha: float = 0.25,
        lam: float = 1.0,
        tau: float = 0.1,
        lr: float = 1e-3,
        optimizer: str = "adam",
        max_epochs: int = 100,
        patience: int = 15,
        min_epochs: int = 0,
        batch_size: int = 256,
        local_batch_size: int = 1024,
        init_scale: float = 1e-3,
        fit_bias: bool = True,
        grad_clip: float | None = 1.0,
        device: str | None = "auto",
        random_state: int | None = None,
        quiet: bool = True,
    ) -> None:
        self.alpha = alpha
        self.lam = lam
        self.tau = tau
        self.lr = lr
        self.optimizer = optimizer
        self.max_epochs = max_epochs
        self.patience = patience
        self.min_epochs = min_epochs
        self.batch_size = batch_size
        self.local_batch_size = local_batch_size
        self.init_scale = init_scale
        self.fit_bias = fit_bias
        self.grad_clip = grad_clip
        self.device = device
        self.random_state = random_state
        self.quiet = quiet

    def _config(self) -> TrainConfig:
        checks = [
            ("alpha", 0.0 <= self.alpha <= 1.0, "in [0, 1]"),
            ("lam", self.lam >= 0, ">= 0"),
            ("tau", self.tau > 0, "> 0"),
            ("lr", self.lr > 0, "> 0"),
            ("max_epochs", int(self.max_epochs) >= 1, ">= 1"),
            ("patience", int(self.patience) >= 1, ">= 1"),
            ("min_epochs", int(self.min_epochs) >= 0, ">= 0"),
            ("batch_size", int(self.batch_size) >= 1, ">= 1"),
            ("local_batch_size", int(self.local_batch_size) >= 2, ">= 2"),
            ("init_scale", self.init_scale > 0, "> 0"),
            ("grad_clip", self.grad_clip is None or self.grad_clip > 0, "> 0 or None"),
        ]
        for name, ok, want in checks:
            if not ok:
                raise ConfigError(f"GLocal: {name} must be {want}, received {getattr(self, name)!r}.")
        if str(self.optimizer).lower() not in ("adam", "sgd"):
            raise ConfigError(
                f"GLocal: optimizer must be 'adam' or 'sgd', received {self.optimizer!r}."
            )
        return TrainConfig(
            alpha=float(self.alpha), lam=float(self.lam), tau=float(self.tau), lr=float(self.lr),
            optimizer=str(self.optimizer), max_epochs=int(self.max_epochs),
            patience=int(self.patience), min_epochs=int(self.min_epochs),
            batch_size=int(self.batch_size), local_batch_size=int(self.local_batch_size),
            init_scale=float(self.init_scale), fit_bias=bool(self.fit_bias),
            grad_clip=None if self.grad_clip is None else float(self.grad_clip), quiet=self.quiet,
        )  # fmt: skip

    def fit(
        self,
        X: Any,
        triplets: Any,
        x_local: Any = None,
        validation: float | Any | None = 0.1,
    ) -> GLocal:
        """Fit the transform.

        Args:
            X: (N, D) features of the N objects the triplets index (a model's features of the
                THINGS images, for instance).
            triplets: (T, 3) int indices into ``X``: columns 0 and 1 are the pair humans judged
                most similar, column 2 the odd one out (or a triplet set with a ``triplets``
                attribute).
            x_local: (M, D) features of auxiliary stimuli from the same model and layer for the
                local term; None uses ``X`` itself. Ignored when ``alpha == 0``.
            validation: held-out triplets for early stopping: a (V, 3) array, a fraction of
                ``triplets`` drawn at random (default 0.1), or None to run ``max_epochs`` and
                keep the last epoch.

        Returns:
            self.
        """
        cfg = self._config()
        x = _features(X, "X")
        n, d = x.shape
        if n < 3:
            raise ShapeError(
                f"GLocal needs at least 3 samples (objects) to form a triplet, received {n} "
                f"sample{'s' if n != 1 else ''}."
            )
        trip = fit_triplets(triplets, n, "triplets")
        rng = np.random.default_rng(self.random_state)
        val: np.ndarray | None
        if validation is None:
            val = None
        elif isinstance(validation, (float, int)) and not isinstance(validation, bool):
            if not 0.0 < float(validation) < 1.0:
                raise ConfigError(
                    f"validation as a fraction must lie in (0, 1), received {validation!r}; pass "
                    "held-out triplets as an array, or None."
                )
            n_val = round(float(validation) * len(trip))
            if n_val < 1 or n_val >= len(trip):
                raise ShapeError(
                    f"validation={validation} of {len(trip)} triplets leaves no triplet for "
                    "validation or for training; pass more triplets or validation=None."
                )
            perm = rng.permutation(len(trip))
            val, trip = trip[perm[:n_val]], trip[perm[n_val:]]
        else:
            val = fit_triplets(validation, n, "validation")
        xl = None if x_local is None else _features(x_local, "x_local", d)
        device = resolve_device(self.device)
        mean, std = float(x.mean()), float(x.std())
        if std == 0.0:
            raise ShapeError("X is constant (its std is 0); gLocal cannot standardise it.")

        def standardised(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor((a - mean) / std, dtype=torch.float32).to(device)

        xt = standardised(x)
        xlt = standardised(xl) if xl is not None else xt
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        t0 = time.perf_counter()
        w, b, history, best = train_glocal(
            xt,
            torch.as_tensor(trip, device=device),
            xlt,
            None if val is None else torch.as_tensor(val, device=device),
            cfg,
            generator,
        )
        self._set_parameters(w.double().cpu().numpy(),
                             np.zeros(d) if b is None else b.double().cpu().numpy(), mean, std)
        self.history_ = pd.DataFrame(history)
        self.best_epoch_ = int(best)
        self.fit_seconds_ = time.perf_counter() - t0
        log.info("gLocal fitted in %.1f s, best epoch %d", self.fit_seconds_, best)
        return self

    @classmethod
    def from_parameters(cls, weights: np.ndarray, bias: np.ndarray, mean: float, std: float, *,
                        fit_bias: bool = True) -> GLocal:
        """A fitted transform from its parameters (e.g. read from a saved transform file).

        Args:
            weights: (D, D) float64 ``W``.
            bias: (D,) float64 ``b`` (zeros without a bias).
            mean, std: the scalar standardisation of the features.
            fit_bias: whether the transform has a bias.

        Returns:
            A GLocal that transforms like the one fitted with these parameters; it has no
            training history (``history_`` empty, ``best_epoch_`` -1).
        """
        est = cls(fit_bias=fit_bias)
        est._set_parameters(weights, bias, mean, std)
        est.history_ = pd.DataFrame()
        est.best_epoch_ = -1
        return est

    def _set_parameters(self, weights: np.ndarray, bias: np.ndarray, mean: float, std: float
                        ) -> None:
        d = weights.shape[0]
        self.W_, self.b_, self.mean_, self.std_ = weights, bias, mean, std
        self.n_features_in_ = d
        self._n_features_out = d

    def _check_fitted(self) -> None:
        try:
            check_is_fitted(self, ["W_", "b_", "mean_", "std_"])
        except Exception:
            raise NotFittedError(
                "This GLocal instance is not fitted yet; call fit(X, triplets) or load a "
                "transform with repalign.alignment.load_transform(path) first."
            ) from None

    def transform(self, X: Any) -> np.ndarray:
        """Apply the fitted transform: ``((X - mean_) / std_) @ W_ + b_``.

        Args:
            X: (N, D) features of the same model and layer.

        Returns:
            (N, D) float64 aligned features.
        """
        self._check_fitted()
        x = _features(X, "X", self.n_features_in_)
        aligned: np.ndarray = ((x - self.mean_) / self.std_) @ self.W_ + self.b_
        return aligned

    def score(self, X: Any, triplets: Any) -> float:
        """Odd-one-out accuracy of the transformed features on ``triplets`` (dot products).

        Args:
            X: (N, D) features of the objects ``triplets`` index.
            triplets: (T, 3) indices, the chosen pair first.

        Returns:
            Share of triplets whose chosen pair has the strictly largest dot product.
        """
        z = self.transform(X)
        fit_triplets(triplets, len(z), "triplets")
        return odd_one_out_accuracy(z, triplets, similarity="dot")

    def save(self, path: str | Path) -> Path:
        """Write thingsvision's ``transform.npz`` (``weights``, ``bias``, ``mean``, ``std``)."""
        from repalign.alignment.transform_io import save_transform

        self._check_fitted()
        return save_transform(path, self.W_, self.b_, self.mean_, self.std_)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float64"]
        tags.non_deterministic = self.random_state is None
        return tags
