"""``model:SPEC@LAYER``: the distance between two images' activations in any model.

``d(x, y) = mean over layers of ||f_l(x) - f_l(y)||_2 / sqrt(D_l)``, the root-mean-square difference
of the flattened activations of each layer ``l`` (D_l values), averaged over the layers. With one
layer this is the Euclidean distance up to a constant, so 2AFC decisions equal those of the plain
Euclidean distance; the normalisation only makes layers of different sizes comparable.

A robust model's feature distance is a common stand-in for human perceptual distance (robust
features are perceptually aligned), e.g. ``"model:zoo:cnn_l2_s0@features.4"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from repalign.errors import ConfigError
from repalign.models.model import Model
from repalign.perceptual.base import Distance, Embedding

__all__ = ["FeatureDistance", "parse_model_spec"]


def parse_model_spec(spec: str) -> tuple[str, list[str]]:
    """Split ``"model:SPEC@L1+L2"`` into the model spec and its layers.

    Example:
        >>> parse_model_spec("model:zoo:cnn_l2_s0@features.4+features.7")
        ('zoo:cnn_l2_s0', ['features.4', 'features.7'])
    """
    body = spec[len("model:"):] if spec.startswith("model:") else spec
    if "@" not in body or not body.rsplit("@", 1)[1] or not body.rsplit("@", 1)[0]:
        raise ConfigError(
            f"A model feature distance is written 'model:SPEC@LAYER' (several layers joined with "
            f"'+'), e.g. 'model:zoo:cnn_l2_s0@features.4'; received {spec!r}."
        )
    model_spec, layers = body.rsplit("@", 1)
    return model_spec, [layer for layer in layers.split("+") if layer]


class FeatureDistance(Distance):
    """RMS activation difference in ``layers`` of ``model``, averaged over layers.

    The model is put in eval mode and is not moved: inputs are sent to the model's device and
    dtype, and the result comes back to the input's device (gradients flow through).

    Args:
        model: a :class:`~repalign.models.model.Model` (its channel count must match the images).
        layers: layer name(s) of the model.
        name: the spec shown in tables; defaults to ``"model:<spec>@<layers>"``.

    Example:
        >>> d = FeatureDistance(model, ["features.4"])   # doctest: +SKIP
        >>> d(x, y).shape                                # doctest: +SKIP
        torch.Size([N])
    """

    def __init__(self, model: Model, layers: str | Sequence[str], name: str | None = None) -> None:
        super().__init__()
        if not isinstance(model, Model):
            raise ConfigError(
                f"FeatureDistance needs a repalign Model, received {type(model).__name__}; wrap "
                "your network with repalign.Model or pass a spec like 'model:zoo:NAME@LAYER'."
            )
        self.model = model.eval()
        self.layers = model.check_layers(layers)
        self.name = name or f"model:{model.spec}@{'+'.join(self.layers)}"

    def follow(self, x: torch.Tensor) -> None:
        """The model stays where it is; :meth:`embed` moves the inputs instead."""

    def embed(self, x: torch.Tensor) -> Embedding:
        ref = next(iter(self.model.parameters()), None)
        if ref is not None:
            x = x.to(device=ref.device, dtype=ref.dtype)
        feats = self.model.features(x, self.layers)
        return [feats[layer].flatten(1) for layer in self.layers]

    def between(self, ex: Embedding, ey: Embedding) -> torch.Tensor:
        terms = [torch.linalg.vector_norm(a - b, dim=1) / a.shape[1] ** 0.5 for a, b in zip(ex, ey, strict=True)]
        return torch.stack(terms).mean(0)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return super().forward(x, y).to(device=x.device, dtype=x.dtype)
