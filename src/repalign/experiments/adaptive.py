"""Adaptive odd-one-out experiments (``design.adaptive = true``): each new session gets the
triplets a :class:`~repalign.embedding.selector.TripletSelector` proposes from the answers so
far, and the embedding is refitted in a background thread between sessions.

- :meth:`AdaptivePlanner.plan` proposes a session's triples from the latest fit (random ones
  until there is a fit); it only scores candidates with the current embedding, so starting a
  session never waits for a fit.
- :meth:`AdaptivePlanner.refit_soon` (called when a session finishes) starts one background
  refit on every answered main trial in the database; a call while a refit runs schedules one
  more after it. The database stays the only state: after a restart the first refit reads all
  stored answers again.

Example:
    >>> planner = AdaptivePlanner(store, ["x00000", "x00001", "x00002", "x00003"])  # doctest: +SKIP
    >>> planner.plan(2)                                                           # doctest: +SKIP
    [{'items': ['x00003', 'x00000', 'x00001']}, {'items': ['x00002', 'x00001', 'x00000']}]
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import numpy as np

from repalign.embedding.selector import TripletSelector
from repalign.experiments.store import Store

__all__ = ["AdaptivePlanner"]

log = logging.getLogger(__name__)


class AdaptivePlanner:
    """Proposes odd-one-out trials for an experiment and refits in the background.

    Args:
        store: the experiment's database.
        names: stimulus names, in the order of the embedding's rows.
        strategy: the selector's strategy (``"uncertainty"`` by default).
        min_answers: answers before the first fit (random triplets until then).
        seed: seeds proposals and fits.
        fit_options: passed to the selector's refits.
    """

    def __init__(self, store: Store, names: list[str], *, strategy: str = "uncertainty",
                 min_answers: int = 30, seed: int = 0,
                 fit_options: dict[str, Any] | None = None) -> None:
        self.store = store
        self.names = list(names)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.selector = TripletSelector(len(self.names), strategy=strategy,
                                        min_answers=min_answers, seed=seed,
                                        fit_options=fit_options)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False
        self.errors: list[str] = []

    def plan(self, k: int) -> list[dict[str, Any]]:
        """``k`` planned trials (``{"items": [three stimulus names]}``) to assign next."""
        return [{"items": [self.names[int(i)] for i in row]} for row in self.selector.propose(k)]

    def answered_triplets(self) -> np.ndarray:
        """(T, 3) every answered main odd-one-out trial in the database, as 0-based
        (pair, pair, odd-one-out) rows of the stimulus order."""
        rows = self.store.read(
            "SELECT a.spec, r.answer FROM responses r JOIN assignments a ON "
            "a.participant = r.participant AND a.trial_index = r.trial_index "
            "WHERE a.kind = 'main' ORDER BY r.id")
        out = []
        for spec, answer in rows:
            items = json.loads(spec)["stimuli"]
            odd = json.loads(answer).get("odd")
            if odd not in items or len(set(items)) != 3:
                continue  # not a three-object odd-one-out answer
            pair = [self.index[n] for n in items if n != odd]
            out.append([*pair, self.index[odd]])
        return np.asarray(out, dtype=np.int64).reshape(-1, 3)

    def _run(self) -> None:
        while True:
            try:
                self.selector.set_answers(self.answered_triplets())
                res = self.selector.refit()
                if res is not None:
                    log.info("adaptive refit %d on %d answers: %d dimensions",
                             self.selector.refits, res.n_train, res.n_dims)
            except Exception as exc:  # keep serving with the previous fit; say why
                log.exception("adaptive refit failed")
                self.errors.append(repr(exc))
            with self._lock:
                if not self._again:
                    self._thread = None
                    return
                self._again = False

    def refit_soon(self) -> None:
        """Start a background refit, or schedule one after the refit that is running."""
        with self._lock:
            if self._thread is not None:
                self._again = True
                return
            self._thread = threading.Thread(target=self._run, name="adaptive-refit", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running refits to end (for tests and shutdown); True when idle."""
        with self._lock:
            thread = self._thread
        while thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return False
            with self._lock:
                thread = self._thread
        return True
