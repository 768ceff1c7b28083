"""The :class:`Model`: a network with its preprocessing, named layers and early-exit features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from repalign._hashing import hash_params, hash_state_dict
from repalign._registry import unknown_name_message
from repalign.errors import ShapeError, UnknownNameError
from repalign.models.taps import LayerTaps, count_calls

__all__ = ["Model", "Preprocess"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Preprocess(nn.Module):
    """Differentiable preprocessing of [0, 1] pixels: optional resize, then ``(x - mean) / std``.

    Args:
        mean: per-channel mean.
        std: per-channel standard deviation.
        size: (H, W) the network expects; inputs of another size are resized (bilinear,
            antialiased). ``None`` keeps the input size.
    """

    def __init__(
        self,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ShapeError(f"mean has {len(mean)} channels but std has {len(std)}.")
        if any(s <= 0 for s in std):
            raise ShapeError(f"std must be positive, received {tuple(std)}.")
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))
        self.size = tuple(size) if size is not None else None
        self.mean: torch.Tensor
        self.std: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def config(self) -> dict[str, Any]:
        """JSON-able description, part of the model's cache key."""
        return {
            "mean": [round(float(v), 8) for v in self.mean.flatten()],
            "std": [round(float(v), 8) for v in self.std.flatten()],
            "size": list(self.size) if self.size else None,
        }

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config().items())


class Model(nn.Module):
    """A network and its preprocessing; inputs are (N, C, H, W) pixels in [0, 1].

    Build one with :func:`repalign.create_model`; wrap your own network directly:

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 2))
        >>> m = Model(net, Preprocess([0.5] * 3, [0.5] * 3), spec="mine:mlp", input_size=(3, 2, 2))
        >>> m.layers()
        ['0', '1', '2', '3']
        >>> m.features(torch.rand(4, 3, 2, 2), ["2"])["2"].shape
        torch.Size([4, 5])

    Attributes:
        network: the wrapped ``nn.Module``; layer names are relative to it.
        preprocess: differentiable preprocessing applied inside ``forward`` and ``features``.
        spec: the ``source:name`` it was created from.
        input_size: (C, H, W) the network was built for.
        meta: facts about the model (source, architecture, training, seed, accuracies, ...).
    """

    def __init__(
        self,
        network: nn.Module,
        preprocess: nn.Module | None = None,
        *,
        spec: str = "custom:model",
        input_size: tuple[int, int, int] = (3, 224, 224),
        meta: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.preprocess = preprocess if preprocess is not None else nn.Identity()
        self.spec = spec
        self.input_size = tuple(int(v) for v in input_size)
        self.meta: dict[str, Any] = dict(meta or {})
        self._calls: dict[tuple[int, ...], dict[str, int]] = {}

    # -- inputs ---------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ShapeError(f"{self.spec} expects images (N, C, H, W), received {got}.")
        if x.shape[1] != self.input_size[0]:
            raise ShapeError(
                f"{self.spec} takes {self.input_size[0]}-channel images but received "
                f"{x.shape[1]} channel(s) (shape {tuple(x.shape)}); load the stimuli with "
                f"channels={self.input_size[0]}."
            )

    # -- layers ---------------------------------------------------------------------------------
    def layers(self) -> list[str]:
        """Dotted names of every submodule of the network, in registration order."""
        return [name for name, _ in self.network.named_modules() if name]

    def check_layers(self, layers: str | Sequence[str]) -> list[str]:
        """Validate layer names; an unknown one raises :class:`UnknownNameError` listing the valid."""
        names = [layers] if isinstance(layers, str) else list(layers)
        if not names:
            raise ShapeError(f"No layer requested for {self.spec}; pass one of {self.layers()[:20]}.")
        valid = self.layers()
        valid_set = set(valid)
        for name in names:
            if name not in valid_set:
                raise UnknownNameError(unknown_name_message(f"layer of {self.spec}", name, valid))
        return names

    def layer_calls(self, x: torch.Tensor) -> dict[str, int]:
        """How many times each layer runs in one forward on inputs shaped like ``x`` (cached)."""
        key = tuple(x.shape[1:])
        if key not in self._calls:
            probe = x[:1].detach()
            self._calls[key] = count_calls(self.network, lambda: self.network(self.preprocess(probe)))
        return self._calls[key]

    def execution_order(self, x: torch.Tensor) -> list[str]:
        """Layers in the order they first run in a forward on inputs shaped like ``x``."""
        return list(self.layer_calls(x))

    # -- forward --------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output (logits for classifiers) for pixels ``x`` in [0, 1]."""
        self._check_input(x)
        out: torch.Tensor = self.network(self.preprocess(x))
        return out

    def features(
        self,
        x: torch.Tensor,
        layers: str | Sequence[str],
        *,
        early_exit: bool = True,
        detach: bool = False,
        probe: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Outputs of ``layers`` for pixels ``x`` (N, C, H, W) in [0, 1]; differentiable.

        The forward stops right after the last requested layer has run (``early_exit``), so later
        layers cost nothing. A layer called several times per forward gives its last output.
        Hooks are removed before returning, also when the forward raises.

        Early exit needs how often each layer runs per forward (:meth:`layer_calls`, kept per
        input shape). When that is not known yet for ``x``'s shape, ``probe=True`` finds it with a
        separate one-image forward first; ``probe=False`` counts the calls during this forward,
        which then runs to the end (cheaper when the requested layers end the network). Both
        give the same outputs.

        Returns:
            ``{layer: tensor}`` in the order of ``layers``; tuple outputs give their first tensor.
        """
        names = self.check_layers(layers)
        self._check_input(x)
        key = tuple(x.shape[1:])
        learn = early_exit and not probe and key not in self._calls
        calls = self.layer_calls(x) if early_exit and not learn else None
        with LayerTaps(self.network, names, calls=calls, detach=detach) as taps:
            if learn:
                self._calls[key] = count_calls(
                    self.network, lambda: self.network(self.preprocess(x)), grad=True)
            else:
                self.network(self.preprocess(x))
        missing = [n for n in names if n not in taps.outputs]
        if missing:
            raise ShapeError(
                f"Layer(s) {missing} of {self.spec} did not run in the forward pass; pick layers "
                f"that the forward uses, e.g. {self.execution_order(x)[-5:]}."
            )
        return {n: taps.outputs[n] for n in names}

    # -- identity -------------------------------------------------------------------------------
    def weights_sha256(self) -> str:
        """sha256 of the network's parameters and buffers."""
        return hash_state_dict(self.network.state_dict())

    def cache_key(self) -> str:
        """Content hash identifying this model: weights, preprocessing, architecture spec.

        A custom preprocessing module (not :class:`Preprocess`) enters by its ``repr`` and, when
        it has parameters or buffers, by their sha256, so changing its values changes the key.
        """
        pre: Any
        if isinstance(self.preprocess, Preprocess):
            pre = self.preprocess.config()
        else:
            pre = repr(self.preprocess)
            state = self.preprocess.state_dict()
            if state:
                pre = {"repr": pre, "state": hash_state_dict(state)}
        return hash_params({"spec": self.spec, "weights": self.weights_sha256(), "preprocess": pre})

    @property
    def device(self) -> torch.device:
        """Device of the first parameter or buffer (CPU for a parameter-free network)."""
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def extra_repr(self) -> str:
        return f"spec={self.spec!r}, input_size={self.input_size}"
