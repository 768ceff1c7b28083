"""Resolve a device argument once, at the entry point."""

from __future__ import annotations

import torch

from repalign.errors import ConfigError

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return a :class:`torch.device`; ``None`` or ``"auto"`` picks CUDA when available.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            "device must be a torch device ('cpu', 'cuda', 'cuda:1', ...), 'auto' or None; "
            f"received {device!r} ({exc})."
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device={str(device)!r} was asked for but CUDA is not available on this machine; "
            "use device='cpu' or 'auto'."
        )
    return dev
