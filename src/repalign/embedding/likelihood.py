"""The odd-one-out choice model behind SPoSE and VICE, as plain functions on tensors.

For a triplet ``(a, b, c)`` in the (pair, pair, odd-one-out) layout and an embedding ``X``
(objects x dimensions), the probability that the pair ``(a, b)`` is judged most similar is the
softmax over the three dot-product similarities::

    p(a, b | a, b, c) = exp(x_a . x_b) / (exp(x_a . x_b) + exp(x_a . x_c) + exp(x_b . x_c))

The negative log of it, averaged over triplets, is the data term of both models.

Example:
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> round(float(triplet_nll(x, torch.tensor([[0, 1, 2]]))), 4)
    0.4223
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["choice_probabilities", "predicted_pair", "triplet_logits", "triplet_nll"]


def triplet_logits(x: torch.Tensor, triplets: torch.Tensor) -> torch.Tensor:
    """(T, 3) dot-product similarities ``[x_a.x_b, x_a.x_c, x_b.x_c]`` of each triplet's pairs.

    The same quantity as gLocal's ``repalign.alignment.losses.triplet_logits``, restated here
    so that fitting an embedding does not import the alignment package (and scikit-learn).
    """
    a, b, c = x[triplets[:, 0]], x[triplets[:, 1]], x[triplets[:, 2]]
    return torch.stack([(a * b).sum(-1), (a * c).sum(-1), (b * c).sum(-1)], dim=-1)


def triplet_nll(x: torch.Tensor, triplets: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Negative log-likelihood of the observed choices under the softmax choice model.

    Args:
        x: (N, D) embedding.
        triplets: (T, 3) int64 indices, the chosen pair in columns 0 and 1.
        reduction: ``"mean"`` (scalar), ``"sum"`` (scalar) or ``"none"`` ((T,) per triplet).

    Returns:
        The NLL with the requested reduction.
    """
    logits = triplet_logits(x, triplets)
    nll = torch.logsumexp(logits, dim=-1) - logits[:, 0]
    if reduction == "none":
        return nll
    return nll.sum() if reduction == "sum" else nll.mean()


def choice_probabilities(x: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """(T, 3) probabilities of choosing the pairs (a, b), (a, c), (b, c) of each shown triple.

    Args:
        x: (N, D) embedding.
        items: (T, 3) int64 objects as shown (any order).
    """
    return F.softmax(triplet_logits(x, items), dim=-1)


def predicted_pair(x: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """(T,) index (0: (a, b), 1: (a, c), 2: (b, c)) of the most similar pair of each triple."""
    return triplet_logits(x, items).argmax(dim=-1)
