"""Seed 000's communication game (Section 3): a student locates new objects from triplet answers.

Alice (the teacher) sees a new object c; Bob (the student) shares n objects x with her but not
c. Bob asks triplet queries "is c closer to x_j than to x_k?", Alice answers from her own
representation, and Bob reads the answers in his: a fraction eps of them disagree with what his
representation says (a binary symmetric channel with flip probability eps, Proposition 3.8).

Bob's uncertainty about c is a finite set of M candidate objects whose triplet answers in his
representation (their *codes*, one bit per pair {j, k}) all differ. He keeps a posterior over the
candidates, asks the pair whose answer splits the posterior mass closest to half (noisy binary
search), updates it by Bayes' rule with his channel model, and stops when one candidate holds
at least ``1 - delta`` of the mass. The number of queries asked is the cost of learning c.

Bob's channel model:

- ``flip=True`` (Remark 3.10's flip trick): Bob uses the true rate eps. For eps > 0.5 this is the
  same as flipping every answer and hearing a channel with rate 1 - eps.
- ``flip=False``: a naive Bob who trusts Alice's bits, i.e. models the rate as min(eps, 1 - eps)
  without flipping; for eps > 0.5 he is misled.

Channels: ``teacher=None`` draws a fresh flip for every answer (the memoryless channel of the
proof, so repeated queries help); a ``teacher`` array of fixed answers (a real model, or fixed
flips) gives the same answer to the same query, so each pair is asked at most once
(``repeat=False``).

Example:
    >>> rng = np.random.default_rng(0)
    >>> codes = rng.random((16, 40)) < 0.5
    >>> out = localise(codes, np.arange(16), eps=0.0, rng=rng)
    >>> bool(out.correct.all()), float(out.queries.mean()) >= 4.0
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from repalign._validation import describe
from repalign.errors import ConfigError, ShapeError

__all__ = ["GameOutcome", "all_pairs", "localise", "triplet_codes"]

_CLIP = 1e-9


@dataclass(frozen=True)
class GameOutcome:
    """What happened in T games.

    Attributes:
        queries: (T,) queries asked until Bob stopped (or ran out).
        correct: (T,) Bob's final best candidate is the true object.
        censored: (T,) Bob stopped because the query budget (or, without repeats, the pairs)
            ran out before reaching confidence ``1 - delta``.
        disagreements: answers that differed from Bob's own code of the true object.
        answers: answers heard in all games (so ``disagreements / answers`` estimates eps).
    """

    queries: np.ndarray
    correct: np.ndarray
    censored: np.ndarray
    disagreements: int
    answers: int


def all_pairs(n: int) -> np.ndarray:
    """The n (n - 1) / 2 unordered pairs (j, k), j < k, of n shared objects, as (P, 2) ints."""
    return np.array(list(combinations(range(n), 2)), dtype=np.int64).reshape(-1, 2)


def triplet_codes(objects: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """Each object's answers to "closer to shared j than to shared k?" for every pair j < k.

    Args:
        objects: (M, D) representations of the new objects.
        shared: (n, D) representations of the shared objects, same space.

    Returns:
        (M, P) bool, P = n (n - 1) / 2, pairs in :func:`all_pairs` order (Euclidean distance).
    """
    if objects.ndim != 2 or shared.ndim != 2 or objects.shape[1] != shared.shape[1]:
        raise ShapeError(f"need (M, D) objects and (n, D) shared objects of one D, received "
                         f"{describe(objects)} and {describe(shared)}.")
    dist = np.sqrt(((objects[:, None, :] - shared[None, :, :]) ** 2).sum(-1))
    pairs = all_pairs(len(shared))
    codes: np.ndarray = dist[:, pairs[:, 0]] < dist[:, pairs[:, 1]]
    return codes


def _check(codes: np.ndarray, truth: np.ndarray, teacher: np.ndarray | None, eps: float,
           delta: float) -> None:
    if codes.ndim != 2 or codes.dtype != bool or codes.shape[0] < 2:
        raise ShapeError(f"codes must be (M, P) bool with M >= 2, received {describe(codes)}.")
    if len(np.unique(codes, axis=0)) != len(codes):
        raise ConfigError("every candidate needs a distinct code; some candidates answer every "
                          "query alike and cannot be told apart.")
    if truth.ndim != 1 or (len(truth) and (truth.min() < 0 or truth.max() >= len(codes))):
        raise ShapeError(f"truth must be (T,) indices into {len(codes)} candidates, received "
                         f"{describe(truth)}.")
    if teacher is not None and teacher.shape != (len(truth), codes.shape[1]):
        raise ShapeError(f"teacher answers must be (T, P) = ({len(truth)}, {codes.shape[1]}), "
                         f"received {describe(teacher)}.")
    if not 0 <= eps <= 1:
        raise ConfigError(f"eps must lie in [0, 1], received {eps!r}.")
    if not 0 < delta < 0.5:
        raise ConfigError(f"delta must lie in (0, 0.5), received {delta!r}.")


def localise(
    codes: np.ndarray,
    truth: np.ndarray,
    *,
    eps: float,
    teacher: np.ndarray | None = None,
    flip: bool = True,
    repeat: bool | None = None,
    delta: float = 0.05,
    max_queries: int = 5000,
    rng: np.random.Generator | None = None,
) -> GameOutcome:
    """Play T games of the communication game, all at once.

    Args:
        codes: (M, P) bool, Bob's triplet answers for every candidate (distinct rows).
        truth: (T,) index of the new object in each game.
        eps: the channel's flip rate: drawn afresh per answer when ``teacher`` is None;
            otherwise Bob's model of the rate (e.g. measured on the shared objects).
        teacher: (T, P) bool, Alice's fixed answers in each game, or None.
        flip: Bob exploits eps > 0.5 (the flip trick); False: he trusts the bits.
        repeat: whether a pair may be asked again (default: only with a fresh-flip channel).
        delta: Bob stops when a candidate holds ``1 - delta`` of the posterior.
        max_queries: budget per game.
        rng: random generator for the fresh flips.

    Returns:
        :class:`GameOutcome`.
    """
    truth = np.asarray(truth, dtype=np.int64)
    _check(codes, truth, teacher, eps, delta)
    rng = rng if rng is not None else np.random.default_rng(0)
    repeat = teacher is None if repeat is None else repeat
    model = eps if flip else min(eps, 1.0 - eps)
    model = min(max(model, _CLIP), 1.0 - _CLIP)
    log_agree, log_flip = np.log1p(-model), np.log(model)
    t, (m, p) = len(truth), codes.shape
    cf = codes.astype(np.float64)
    logw = np.zeros((t, m))
    asked = np.zeros((t, p), dtype=bool)
    queries = np.zeros(t, dtype=np.int64)
    done = np.zeros(t, dtype=bool)
    censored = np.zeros(t, dtype=bool)
    disagree = answers = 0
    limit = max_queries if repeat else min(max_queries, p)
    while not done.all():
        act = np.flatnonzero(~done)
        w = np.exp(logw[act] - logw[act].max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        score = np.abs(w @ cf - 0.5)
        if not repeat:
            score[asked[act]] = np.inf
        q = score.argmin(1)
        own = codes[truth[act], q]
        if teacher is None:
            ans = own ^ (rng.random(len(act)) < eps)
        else:
            ans = teacher[act, q]
        asked[act, q] = True
        disagree += int((ans != own).sum())
        answers += len(act)
        match = codes[:, q].T == ans[:, None]
        logw[act] += np.where(match, log_agree, log_flip)
        queries[act] += 1
        w = np.exp(logw[act] - logw[act].max(1, keepdims=True))
        confident = (w.max(1) / w.sum(1)) >= 1.0 - delta
        out_of_budget = queries[act] >= limit
        censored[act] = out_of_budget & ~confident
        done[act] = confident | out_of_budget
    correct = logw.argmax(1) == truth
    return GameOutcome(queries, correct, censored, disagree, answers)
