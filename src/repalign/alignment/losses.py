"""The three terms of the gLocal objective, as plain functions on tensors.

gLocal (Muttenthaler et al. 2023) learns an affine map ``z = x W + b`` of standardised features
``x`` so that (a) dot products of the mapped features predict which pair of a human odd-one-out
triplet was judged most similar (the *global* term), (b) the cosine-similarity structure of the
original features is kept on auxiliary stimuli (the *local* term), and (c) ``W`` stays close to a
scaled identity. The total loss is::

    (1 - alpha) * global + alpha * local + lam * ||W - mean(diag W) I||_F^2

Everything here is differentiable, batched and follows the device and dtype of its inputs.

Example:
    >>> import torch
    >>> z = torch.randn(5, 3)
    >>> triplets = torch.tensor([[0, 1, 2], [3, 4, 0]])
    >>> float(global_triplet_loss(z, triplets)) > 0
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "global_triplet_loss",
    "glocal_loss",
    "identity_pull",
    "local_contrastive_loss",
    "off_diagonal",
    "teacher_distribution",
    "triplet_logits",
]


def triplet_logits(z: torch.Tensor, triplets: torch.Tensor) -> torch.Tensor:
    """Dot-product similarities of the three pairs of each triplet.

    Args:
        z: (N, D) embedded objects.
        triplets: (T, 3) int64 indices into ``z``; columns 0 and 1 are the pair humans chose as
            most similar, column 2 the odd one out.

    Returns:
        (T, 3) similarities ``[<z_a, z_b>, <z_a, z_c>, <z_b, z_c>]``; column 0 is the chosen pair.
    """
    a, b, c = z[triplets[:, 0]], z[triplets[:, 1]], z[triplets[:, 2]]
    return torch.stack([(a * b).sum(-1), (a * c).sum(-1), (b * c).sum(-1)], dim=-1)


def global_triplet_loss(
    z: torch.Tensor, triplets: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Mean cross-entropy of the softmax over a triplet's three pair similarities.

    ``-log softmax(s / T)[0]`` with ``s`` from :func:`triplet_logits`: the probability the model
    gives to the pair the humans chose.

    Args:
        z: (N, D) embedded objects.
        triplets: (T, 3) indices, the chosen pair first.
        temperature: softmax temperature (1 in gLocal).

    Returns:
        Scalar tensor.
    """
    logits = triplet_logits(z, triplets) / temperature
    target = torch.zeros(len(triplets), dtype=torch.long, device=z.device)
    return F.cross_entropy(logits, target)


def off_diagonal(m: torch.Tensor) -> torch.Tensor:
    """(B, B) -> (B, B - 1): each row without its diagonal entry."""
    b = m.shape[0]
    return m.flatten()[1:].view(b - 1, b + 1)[:, :-1].reshape(b, b - 1)


def teacher_distribution(teacher: torch.Tensor, tau: float) -> torch.Tensor:
    """(B, D) original features -> (B, B - 1) rows ``softmax(cos[i, j != i] / tau)``, no grad."""
    with torch.no_grad():
        t = F.normalize(teacher, dim=-1)
        return F.softmax(off_diagonal(t @ t.T) / tau, dim=-1)


def local_contrastive_loss(
    teacher: torch.Tensor,
    student: torch.Tensor,
    tau: float,
    teacher_probs: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy between teacher and student cosine-similarity distributions.

    For each row ``i`` of a batch, ``p_i = softmax(cos_teacher[i, j != i] / tau)`` and
    ``q_i = softmax(cos_student[i, j != i] / tau)``; the loss is ``mean_i -sum_j p_ij log q_ij``
    (gLocal's form). It differs from ``KL(p || q)`` by the teacher's entropy, a constant, so both
    have the same gradient; its minimum over students is that entropy, reached when the student's
    cosine similarities equal the teacher's.

    Args:
        teacher: (B, D) original features of the auxiliary stimuli (no gradient flows to them).
        student: (B, D') transformed features of the same stimuli.
        tau: temperature.
        teacher_probs: (B, B - 1) precomputed :func:`teacher_distribution` of ``teacher``
            (saves its cost when the batch does not change).

    Returns:
        Scalar tensor.
    """
    p = teacher_distribution(teacher, tau) if teacher_probs is None else teacher_probs
    s = F.normalize(student, dim=-1)
    log_q = F.log_softmax(off_diagonal(s @ s.T) / tau, dim=-1)
    return -(p * log_q).sum(-1).mean()


def identity_pull(weights: torch.Tensor) -> torch.Tensor:
    """``||W - mean(diag W) I||_F^2``: how far ``W`` is from a scaled identity."""
    eye = torch.eye(weights.shape[0], dtype=weights.dtype, device=weights.device)
    return ((weights - torch.diagonal(weights).mean() * eye) ** 2).sum()


def glocal_loss(
    x: torch.Tensor,
    triplets: torch.Tensor,
    weights: torch.Tensor,
    bias: torch.Tensor | None = None,
    x_local: torch.Tensor | None = None,
    *,
    alpha: float,
    lam: float,
    tau: float,
    teacher_probs: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The full gLocal objective on one batch, with its terms.

    Only the objects that appear in ``triplets`` are transformed, so a batch costs
    O(min(3T, N) D^2) rather than O(N D^2).

    Args:
        x: (N, D) standardised features of the objects the triplets index.
        triplets: (T, 3) int64 indices into ``x``, chosen pair first.
        weights: (D, D) transform ``W``.
        bias: (D,) offset ``b`` or None.
        x_local: (B, D) standardised features of auxiliary stimuli for the local term, or None
            (then the local term is 0 and only ``(1 - alpha) * global`` enters).
        alpha: weight of the local term.
        lam: weight of the identity pull.
        tau: temperature of the local term.
        teacher_probs: optional precomputed teacher distribution of ``x_local``.

    Returns:
        dict with scalar tensors ``loss``, ``global``, ``local`` and ``pull``.
    """
    used, inverse = torch.unique(triplets, return_inverse=True)
    z = x[used] @ weights
    if bias is not None:
        z = z + bias
    g = global_triplet_loss(z, inverse.view(-1, 3))
    if x_local is not None:
        student = x_local @ weights
        if bias is not None:
            student = student + bias
        loc = local_contrastive_loss(x_local, student, tau, teacher_probs)
    else:
        loc = torch.zeros((), dtype=x.dtype, device=x.device)
    pull = identity_pull(weights)
    loss = (1.0 - alpha) * g + alpha * loc + lam * pull
    return {"loss": loss, "global": g, "local": loc, "pull": pull}
