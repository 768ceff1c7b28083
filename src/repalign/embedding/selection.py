"""Which triplets to ask next: random, balanced random, and adaptive rules that use the current
embedding.

- ``random``: three distinct objects, uniformly.
- ``balanced``: objects shown least often so far first (random order among equals), so every
  object is shown about equally often.
- ``uncertainty``: from a pool of random candidate triples, those whose choice the current
  embedding predicts least surely (largest entropy of the softmax choice probabilities).
- ``infogain``: the expected information a response carries about the embedding (as in CKL's and
  InfoTuple's active selection), estimated with posterior samples (VICE's ``N(mu, sigma^2)``):
  ``H[mean_s p_s] - mean_s H[p_s]``, the mutual information between the response and the
  embedding (BALD). Without a posterior scale it reduces to ``uncertainty``.

Adaptive rules pick the best-scoring candidates but let an object appear at most
``max_per_object`` times in one batch, so a batch does not pile onto a few uncertain objects.

Example:
    >>> rng = np.random.default_rng(0)
    >>> propose_triplets(10, 4, strategy="random", rng=rng).shape
    (4, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from repalign._registry import unknown_name_message
from repalign._validation import as_array, check_count
from repalign.data.triplets import random_triplets
from repalign.embedding.likelihood import choice_probabilities
from repalign.errors import ConfigError, ShapeError, UnknownNameError

__all__ = ["STRATEGIES", "propose_triplets", "triplet_scores"]

STRATEGIES = ("random", "balanced", "uncertainty", "infogain")


def _balanced(n: int, k: int, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random triples drawn from the least-shown objects: the lowest count level is filled
    first (a fresh random grouping every time), so counts even out and then stay even."""
    counts = counts.astype(np.int64).copy()
    rows: list[list[int]] = []
    while len(rows) < k:
        low = np.flatnonzero(counts == counts.min())
        if len(low) >= 3:
            m = min(len(low) // 3, k - len(rows))
            chunk = rng.permutation(low)[: 3 * m].reshape(m, 3)
        else:  # fewer than three at the lowest level: complete with the next least shown
            rest = np.setdiff1d(np.arange(n), low)
            nxt = rest[np.lexsort((rng.random(len(rest)), counts[rest]))][: 3 - len(low)]
            chunk = rng.permutation(np.concatenate([low, nxt]))[None, :]
        rows.extend(chunk.tolist())
        np.add.at(counts, chunk.ravel(), 1)
    return np.asarray(rows, dtype=np.int64)


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log(p.clamp_min(1e-12))).sum(-1)


@torch.no_grad()
def triplet_scores(items: Any, embedding: Any, *, scale: Any = None, samples: int = 16,
                   rule: str = "uncertainty", seed: int = 0) -> np.ndarray:
    """How informative asking each triple would be under the current embedding.

    Args:
        items: (T, 3) candidate objects.
        embedding: (N, D) current embedding (dot-product similarities; VICE's ``relu(mu)``).
        scale: (N, D) posterior standard deviations (VICE), for ``"infogain"``.
        samples: posterior samples for ``"infogain"``.
        rule: ``"uncertainty"`` (entropy of the predicted choice) or ``"infogain"`` (BALD).
        seed: seeds the posterior samples.

    Returns:
        (T,) scores; larger is more informative.
    """
    x = torch.as_tensor(as_array(embedding, "embedding", ndim=2, dtype=np.float32))
    t = torch.as_tensor(np.asarray(items, dtype=np.int64))
    if rule == "uncertainty" or scale is None:
        return _entropy(choice_probabilities(x, t)).numpy()
    sd = torch.as_tensor(as_array(scale, "scale", ndim=2, dtype=np.float32))
    if sd.shape != x.shape:
        raise ShapeError(f"scale must have the embedding's shape {tuple(x.shape)}, received {tuple(sd.shape)}.")
    gen = torch.Generator().manual_seed(seed)
    rows = torch.unique(t)
    mu, s = x[rows], sd[rows]
    remap = torch.full((x.shape[0],), -1, dtype=torch.long)
    remap[rows] = torch.arange(len(rows))
    local = remap[t]
    probs = torch.stack([
        choice_probabilities(torch.relu(mu + s * torch.randn(mu.shape, generator=gen)), local)
        for _ in range(samples)
    ])
    return (_entropy(probs.mean(0)) - _entropy(probs).mean(0)).numpy()


def propose_triplets(n_objects: int, k: int, *, strategy: str = "random",
                     rng: np.random.Generator | None = None, counts: Any = None,
                     embedding: Any = None, scale: Any = None, pool: int = 20,
                     max_per_object: int = 3, samples: int = 16) -> np.ndarray:
    """Propose ``k`` triples of distinct objects to ask next.

    Args:
        n_objects: number of objects.
        k: triples to propose.
        strategy: one of :data:`STRATEGIES`.
        rng: random generator (candidates, tie-breaks, posterior samples).
        counts: (n_objects,) how often each object has been shown (``"balanced"``).
        embedding: (n_objects, D) current embedding (adaptive strategies).
        scale: (n_objects, D) posterior standard deviations (``"infogain"``).
        pool: candidates scored per proposed triple (adaptive strategies).
        max_per_object: most appearances of one object in the proposed batch (adaptive).
        samples: posterior samples (``"infogain"``).

    Returns:
        (k, 3) int64 objects in the order to show them.
    """
    if strategy not in STRATEGIES:
        raise UnknownNameError(unknown_name_message("selection strategy", str(strategy), list(STRATEGIES)))
    n = check_count(n_objects, "n_objects", minimum=3)
    k = check_count(k, "k")
    rng = np.random.default_rng() if rng is None else rng
    if strategy == "random":
        return random_triplets(n, k, rng)
    if strategy == "balanced":
        c = np.zeros(n, dtype=np.int64) if counts is None else np.asarray(counts)
        if c.shape != (n,):
            raise ShapeError(f"counts must have one entry per object ({n}), received shape {c.shape}.")
        return _balanced(n, k, c, rng)
    if embedding is None:
        raise ConfigError(f"strategy {strategy!r} needs the current embedding; fit one first "
                          "(or propose 'random' triplets until there is one).")
    emb = as_array(embedding, "embedding", ndim=2)
    if emb.shape[0] != n:
        raise ShapeError(f"embedding must have {n} rows (one per object), received {emb.shape}.")
    candidates = random_triplets(n, k * check_count(pool, "pool"), rng)
    scores = triplet_scores(candidates, emb, scale=scale, samples=samples, rule=strategy,
                            seed=int(rng.integers(2**31)))
    ranked = np.argsort(-scores, kind="stable")
    chosen, used = [], np.zeros(n, dtype=np.int64)
    for i in ranked:
        trip = candidates[i]
        if (used[trip] < max_per_object).all():
            chosen.append(i)
            used[trip] += 1
            if len(chosen) == k:
                break
    if len(chosen) < k:  # the cap left too few: fill with the best remaining candidates
        taken = set(chosen)
        chosen.extend([i for i in ranked if i not in taken][: k - len(chosen)])
    selected: np.ndarray = candidates[np.asarray(chosen)]
    return selected
