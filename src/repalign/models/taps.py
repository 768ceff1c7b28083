"""Scoped forward hooks that capture named layers and stop the forward early.

``LayerTaps`` is a context manager: hooks exist only inside the ``with`` block and are removed on
exit, also when the forward raises. With ``calls`` given (how often each layer runs in one
forward), the forward is interrupted right after the last call of the last requested layer, so
later layers are never computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import torch
from torch import nn

from repalign.errors import ShapeError

__all__ = ["LayerTaps", "as_tensor_output", "count_calls"]


class _StopForward(Exception):
    """Raised inside a hook to end the forward pass once every requested layer was seen."""


def as_tensor_output(name: str, output: Any) -> torch.Tensor:
    """The tensor a layer produced: the output itself, the first tensor of a tuple/list, or a
    ``last_hidden_state`` attribute (Hugging Face model outputs)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    hidden = getattr(output, "last_hidden_state", None)
    if isinstance(hidden, torch.Tensor):
        return hidden
    raise ShapeError(
        f"Layer {name!r} returned {type(output).__name__}, not a tensor; choose a layer whose "
        "output is a tensor (or a tuple starting with one)."
    )


class LayerTaps:
    """Capture the outputs of ``layers`` (dotted names inside ``module``) during a forward.

    Args:
        module: the network whose submodules are tapped.
        layers: dotted module names, as listed by ``module.named_modules()``.
        calls: for each layer, how many times it runs in one forward. When given, the forward is
            stopped after the last call of every layer (early exit); the kept output is the one of
            the last call. Without it the forward runs to the end.
        detach: detach captured outputs (saves memory when no gradient is needed).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> with LayerTaps(net, ["1"], calls={"1": 1}) as taps:
        ...     _ = net(torch.zeros(1, 4))
        >>> taps.outputs["1"].shape
        torch.Size([1, 3])
    """

    def __init__(
        self,
        module: nn.Module,
        layers: Sequence[str],
        *,
        calls: Mapping[str, int] | None = None,
        detach: bool = False,
    ) -> None:
        self.module = module
        self.layers = list(dict.fromkeys(layers))
        self.calls = dict(calls) if calls is not None else None
        self.detach = detach
        self.outputs: dict[str, torch.Tensor] = {}
        self.stopped_early = False
        self._seen: dict[str, int] = {}
        self._handles: list[Any] = []

    def _hook(self, name: str) -> Any:
        def hook(_mod: nn.Module, _inp: Any, out: Any) -> None:
            t = as_tensor_output(name, out)
            self.outputs[name] = t.detach() if self.detach else t
            self._seen[name] = self._seen.get(name, 0) + 1
            if self.calls is not None and all(
                self._seen.get(n, 0) >= self.calls.get(n, 1) for n in self.layers
            ):
                self.stopped_early = True
                raise _StopForward

        return hook

    def __enter__(self) -> LayerTaps:
        modules = dict(self.module.named_modules())
        try:
            for name in self.layers:
                self._handles.append(modules[name].register_forward_hook(self._hook(name)))
        except BaseException:
            self.remove()
            raise
        return self

    def remove(self) -> None:
        """Remove every hook this object registered (idempotent)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self.remove()
        return exc_type is not None and issubclass(exc_type, _StopForward)


def count_calls(module: nn.Module, run: Any, *, grad: bool = False) -> dict[str, int]:
    """Run ``run()`` once with a counting hook on every named submodule of ``module``.

    Returns how many times each submodule was called, in first-call order (the execution order).
    Hooks are removed afterwards, also on error. ``run`` runs under ``torch.no_grad()`` unless
    ``grad`` (then the caller's grad mode applies).
    """
    counts: dict[str, int] = {}
    handles = []

    def make(name: str) -> Any:
        def hook(_m: nn.Module, _i: Any, _o: Any) -> None:
            counts[name] = counts.get(name, 0) + 1

        return hook

    try:
        for name, sub in module.named_modules():
            if name:
                handles.append(sub.register_forward_hook(make(name)))
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            run()
    finally:
        for h in handles:
            h.remove()
    return counts
