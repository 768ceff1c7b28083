"""Accuracy of a zoo model on ``bundled:digits_shifted``: robustness to a domain shift.

The zoo's models learn digits 0-4 from plain white-on-black strokes; their accuracy on the same
held-out test digits re-drawn in other renditions (inverted, outline, thin and thick pens,
striped, textured; :mod:`repalign.data.shifted`) plays the role ImageNet-R accuracy plays for
ImageNet models in seed 000.

Example:
    >>> accs = shift_accuracies(load_zoo_model("cnn_l2_s0"))       # doctest: +SKIP
    >>> accs["shift_acc"], accs["shift_acc_inverted"]               # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from repalign.models.zoo.attacks import accuracy

__all__ = ["shift_accuracies"]


def shift_accuracies(model: nn.Module, renditions: Sequence[str] | None = None, *,
                     device: str | torch.device = "cpu") -> dict[str, float]:
    """Accuracy of ``model`` on each rendition of the held-out digits 0-4, and their mean.

    Args:
        model: a zoo classifier of digits 0-4 (logits over 5 classes), on ``device``.
        renditions: renditions of :mod:`repalign.data.shifted` (default: all).
        device: where the images are sent.

    Returns:
        ``{"shift_acc": mean over renditions, "shift_acc_<rendition>": accuracy, ...}``.
    """
    from repalign.data.shifted import RENDITIONS, shifted_digits_test

    names = list(renditions) if renditions is not None else list(RENDITIONS)
    shifted = shifted_digits_test(renditions=names)
    assert shifted.labels is not None
    n = len(shifted) // len(names)
    labels = torch.as_tensor(shifted.labels)
    out: dict[str, float] = {}
    with torch.no_grad():
        for i, name in enumerate(names):
            part = slice(i * n, (i + 1) * n)
            out[f"shift_acc_{name}"] = accuracy(model, shifted.images[part].to(device),
                                                labels[part].to(device))
    return {"shift_acc": float(np.mean(list(out.values()))), **out}
