"""A stateful triplet selector: collects answers, refits the embedding, proposes what to ask.

``TripletSelector`` is what an experiment server or a simulation drives: ``propose(k)`` returns
the next ``k`` triples to show (random until the first fit, then by its strategy), ``observe``
records answered triplets, ``refit`` fits the embedding to every answer so far (SPoSE warm-started
from the previous fit). ``propose`` and ``observe`` only take a lock for a few array operations, and
``refit`` works on a copy of the answers outside the lock, so a refit in a background thread
never blocks them; the new fit replaces the old one atomically when it is done.

Example:
    >>> sel = TripletSelector(30, strategy="uncertainty", seed=0)
    >>> items = sel.propose(5)                 # random: nothing fitted yet
    >>> items.shape
    (5, 3)
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from repalign._validation import check_count
from repalign.data.triplets import check_triplets
from repalign.embedding.fit import fit_embedding
from repalign.embedding.result import EmbeddingResult
from repalign.embedding.selection import STRATEGIES, propose_triplets
from repalign.errors import ConfigError

__all__ = ["TripletSelector"]

# a quick refit: SPoSE at a learning rate and batch size for small, growing data sets; unless
# given, epochs make about _STEPS optimiser steps (3 to 100 epochs)
_FIT_DEFAULTS: dict[str, Any] = {"method": "spose", "dims": 50, "batch_size": 256, "lr": 0.01,
                                 "val_fraction": 0.0, "quiet": True}
_STEPS = 800


class TripletSelector:
    """Propose odd-one-out triplets from the answers so far.

    Args:
        n_objects: number of objects.
        strategy: ``"random"``, ``"balanced"``, ``"uncertainty"`` or ``"infogain"``
            (see :mod:`repalign.embedding.selection`).
        min_answers: answers needed before the first fit; adaptive strategies propose random
            triplets until then.
        fit_options: arguments of :func:`fit_embedding` for each refit (default: SPoSE, 50
            dimensions, batch 256, lr 0.01, nothing held out, epochs for about 800 steps, 3 to
            100).
        pool: candidates scored per proposed triple.
        max_per_object: most appearances of one object in one proposed batch.
        seed: seeds proposals and fits.
    """

    def __init__(self, n_objects: int, *, strategy: str = "uncertainty", min_answers: int = 1000,
                 fit_options: dict[str, Any] | None = None, pool: int = 20,
                 max_per_object: int = 3, seed: int = 0) -> None:
        if strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {STRATEGIES}, received {strategy!r}.")
        self.n_objects = check_count(n_objects, "n_objects", minimum=3)
        self.strategy = strategy
        self.min_answers = check_count(min_answers, "min_answers", minimum=0)
        self.fit_options = {**_FIT_DEFAULTS, **(fit_options or {})}
        self.pool, self.max_per_object, self.seed = pool, max_per_object, seed
        self.result: EmbeddingResult | None = None
        self.refits = 0
        self._answers: list[np.ndarray] = []
        self._counts = np.zeros(self.n_objects, dtype=np.int64)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._fit_lock = threading.Lock()

    @property
    def n_answers(self) -> int:
        """Answered triplets recorded so far."""
        with self._lock:
            return sum(len(a) for a in self._answers)

    def answers(self) -> np.ndarray:
        """(T, 3) every answered triplet so far, in the (pair, pair, odd-one-out) layout."""
        with self._lock:
            return np.concatenate(self._answers) if self._answers else np.zeros((0, 3), np.int64)

    def observe(self, triplets: Any) -> None:
        """Record answered triplets ((T, 3), 0-based, (pair, pair, odd-one-out))."""
        t = check_triplets(triplets, self.n_objects, name="answered triplets")
        with self._lock:
            self._answers.append(t)
            np.add.at(self._counts, t.ravel(), 1)

    def set_answers(self, triplets: Any) -> None:
        """Replace the recorded answers with ``triplets`` ((T, 3), as in :meth:`observe`), e.g.
        all answers read back from a database after a restart."""
        t = check_triplets(triplets, self.n_objects, name="answered triplets")
        counts = np.bincount(t.ravel(), minlength=self.n_objects).astype(np.int64)
        with self._lock:
            self._answers, self._counts = [t], counts

    def propose(self, k: int) -> np.ndarray:
        """(k, 3) objects to show next, by the strategy and the latest fit."""
        with self._lock:
            result, counts = self.result, self._counts.copy()
            seed = int(self._rng.integers(2**63))
        rng = np.random.default_rng(seed)
        strategy = self.strategy
        if strategy in ("uncertainty", "infogain") and result is None:
            strategy = "random"
        emb = scale = None
        if result is not None and strategy in ("uncertainty", "infogain"):
            emb, scale = result.weights, result.scale
        return propose_triplets(self.n_objects, k, strategy=strategy, rng=rng, counts=counts,
                                embedding=emb, scale=scale, pool=self.pool,
                                max_per_object=self.max_per_object)

    def refit(self) -> EmbeddingResult | None:
        """Fit the embedding to all answers so far; returns it (None below ``min_answers``).

        Safe to call from a background thread; concurrent calls run one after the other.
        """
        with self._fit_lock:
            data = self.answers()
            if len(data) < max(self.min_answers, 1):
                return None
            opts = dict(self.fit_options)
            if "epochs" not in opts:
                opts["epochs"] = min(100, max(3, -(-_STEPS * opts["batch_size"] // len(data))))
            previous = self.result
            # SPoSE refits warm-start from the previous weights; VICE starts afresh (warm
            # starts from its pruned posterior collapsed in simulation)
            if previous is not None and previous.n_dims > 0 and previous.method == "spose" \
                    and opts["method"] == "spose":
                opts["init"], opts["dims"] = previous, previous.n_dims
            res = fit_embedding(data, self.n_objects, seed=self.seed + self.refits, **opts)
            with self._lock:
                self.result = res
                self.refits += 1
            return res
