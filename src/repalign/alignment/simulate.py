"""Simulated observers and distorted "models" for checking an alignment method end to end.

A *simulated observer* holds a hidden embedding and answers odd-one-out trials the way the
THINGS embedding models (SPoSE/VICE) say humans do: for three objects it picks the most similar
pair with probability ``softmax([s_ab, s_ac, s_bc] / temperature)``, ``s`` the dot products.
Because the choice probabilities are known, so is the noise ceiling: no representation can
expect to agree with the observer on more than ``mean(max p)`` of the trials.

A *distorted view* turns an embedding into features a network might have: a random linear mixing
into more dimensions, a nonlinearity, structured nuisance factors unrelated to the embedding
(other visual properties a network encodes), a random rotation and noise.

Example:
    >>> import numpy as np
    >>> g = np.random.default_rng(0).gamma(1.0, size=(40, 5))
    >>> sim = simulate_observer(g, 500, seed=0)
    >>> sim.triplets.shape, 1 / 3 < sim.ceiling < 1
    ((500, 3), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from repalign._validation import as_array
from repalign.data.triplets import random_triplets
from repalign.errors import ConfigError

__all__ = [
    "SimulatedTriplets",
    "distorted_view",
    "embedding_from_similarity",
    "pair_probabilities",
    "simulate_observer",
]

_PAIR = np.array([[0, 1, 2], [0, 2, 1], [1, 2, 0]])  # chosen pair (a, b) then the odd one out


@dataclass(frozen=True)
class SimulatedTriplets:
    """Choices of a simulated observer.

    Attributes:
        triplets: (T, 3) int64 in the (pair, pair, odd-one-out) layout.
        items: (T, 3) int64 objects as shown (a, b, c).
        probabilities: (T, 3) probabilities of choosing pairs (a, b), (a, c), (b, c).
        ceiling: expected accuracy of the best possible predictor, ``mean(max p)``.
    """

    triplets: np.ndarray
    items: np.ndarray
    probabilities: np.ndarray
    ceiling: float

    def expected_accuracy(self, correct_pair: Any) -> float:
        """Expected agreement of a predictor choosing pair index (0, 1, 2) for each trial."""
        pick = np.asarray(correct_pair, dtype=np.int64)
        return float(self.probabilities[np.arange(len(pick)), pick].mean())


def simulate_observer(
    embedding: Any,
    n_triplets: int,
    *,
    temperature: float = 1.0,
    seed: int | None = 0,
) -> SimulatedTriplets:
    """Draw ``n_triplets`` random trials and the observer's noisy odd-one-out choices.

    Args:
        embedding: (N, K) hidden embedding; dot products are the observer's similarities.
        n_triplets: number of trials (three distinct objects drawn uniformly each).
        temperature: softmax temperature; lower means a more consistent observer (higher
            ceiling).
        seed: random seed.

    Returns:
        :class:`SimulatedTriplets`.
    """
    g = as_array(embedding, "embedding", ndim=2, min_rows=3)
    if temperature <= 0 or n_triplets < 1:
        raise ConfigError(
            f"temperature must be > 0 and n_triplets >= 1, received {temperature} and {n_triplets}."
        )
    rng = np.random.default_rng(seed)
    n = len(g)
    items = np.argsort(rng.random((n_triplets, n)), axis=1)[:, :3] if n <= 64 else random_triplets(n, n_triplets, rng)
    p = pair_probabilities(g, items, temperature)
    choice = (rng.random((n_triplets, 1)) > np.cumsum(p, 1)).sum(1).clip(max=2)
    order = _PAIR[choice]
    triplets = np.take_along_axis(items, order, axis=1)
    return SimulatedTriplets(triplets, items, p, float(p.max(1).mean()))


def embedding_from_similarity(sim: Any) -> np.ndarray:
    """Rows whose dot products reproduce the positive semi-definite part of a similarity matrix.

    Gives a simulated observer (:func:`simulate_observer`) the similarities of a reference agent.

    Args:
        sim: (N, N) similarity matrix (symmetrised as ``(S + S^T) / 2``).

    Returns:
        (N, K) embedding, K the number of positive eigenvalues.

    Example:
        >>> s = np.array([[1.0, 0.5], [0.5, 1.0]])
        >>> e = embedding_from_similarity(s)
        >>> bool(np.allclose(e @ e.T, s))
        True
    """
    s = as_array(sim, "sim", ndim=2)
    vals, vecs = np.linalg.eigh((s + s.T) / 2)
    keep = vals > 1e-9 * max(1.0, float(vals.max()))
    coords: np.ndarray = vecs[:, keep] * np.sqrt(vals[keep])
    return coords


def pair_probabilities(embedding: Any, items: Any, temperature: float = 1.0) -> np.ndarray:
    """The observer's probabilities of choosing pair (a, b), (a, c), (b, c) as most similar.

    Args:
        embedding: (N, K) hidden embedding.
        items: (T, 3) object indices (a, b, c) as shown.
        temperature: softmax temperature (> 0).

    Returns:
        (T, 3) probabilities; the odd one out of pair k is ``(c, b, a)[k]``.

    Example:
        >>> pair_probabilities(np.eye(3) + 1, [[0, 1, 2]]).round(3).tolist()
        [[0.333, 0.333, 0.333]]
    """
    g = np.asarray(embedding, dtype=np.float64)
    idx = np.asarray(items, dtype=np.int64).reshape(-1, 3)
    a, b, c = g[idx[:, 0]], g[idx[:, 1]], g[idx[:, 2]]
    s = np.stack([(a * b).sum(1), (a * c).sum(1), (b * c).sum(1)], 1) / temperature
    p = np.exp(s - s.max(1, keepdims=True))
    probs: np.ndarray = p / p.sum(1, keepdims=True)
    return probs


def distorted_view(
    embedding: Any,
    *,
    dims: int = 192,
    nuisance_rank: int = 8,
    nuisance_scale: float = 1.0,
    noise: float = 0.3,
    seed: int | None = 0,
) -> np.ndarray:
    """A "model" representation of the objects of ``embedding``, distorted on purpose.

    ``concat(tanh(h A), nuisance_scale * L B) R + noise * eps`` where ``h`` is the column-wise
    standardised embedding, ``A`` a random (K, dims/2) mixing, ``L B`` a rank-``nuisance_rank``
    random factor model independent of the embedding, ``R`` a random rotation of all ``dims``
    features and ``eps`` standard normal noise.

    Args:
        embedding: (N, K) embedding.
        dims: number of output features (even).
        nuisance_rank: rank of the nuisance factors (0: none).
        nuisance_scale: their scale relative to the signal.
        noise: std of the added isotropic noise.
        seed: random seed.

    Returns:
        (N, dims) float64 features.
    """
    e = as_array(embedding, "embedding", ndim=2, min_rows=2)
    if dims < 2 or dims % 2:
        raise ConfigError(f"dims must be an even number >= 2, received {dims}.")
    rng = np.random.default_rng(seed)
    n, k = e.shape
    sd = e.std(0)
    h = (e - e.mean(0)) / np.where(sd > 0, sd, 1.0)
    half = dims // 2
    signal = np.tanh(h @ rng.normal(size=(k, half)) / np.sqrt(k))
    if nuisance_rank > 0:
        nuis = rng.normal(size=(n, nuisance_rank)) @ rng.normal(size=(nuisance_rank, half))
        nuis *= nuisance_scale / np.sqrt(nuisance_rank)
    else:
        nuis = np.zeros((n, half))
    rotation = np.linalg.qr(rng.normal(size=(dims, dims)))[0]
    features: np.ndarray = np.concatenate([signal, nuis], 1) @ rotation + noise * rng.normal(size=(n, dims))
    return features
