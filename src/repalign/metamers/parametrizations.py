"""Parametrizations: what the optimiser changes, and how it becomes an image in [0, 1].

One contract for all: ``P(x0)`` builds parameters whose image is the starting image ``x0``
(N, C, H, W); ``P.params`` are leaf tensors whose first dimension is the sample (so samples stay
independent and can be frozen row by row); ``P.image(rows)`` gives (n, C, H, W) in [0, 1] for the
selected samples (all when ``rows`` is None); ``P.project()`` runs after each optimiser step.

- ``pixel``: the pixels themselves, clamped to [0, 1] after every step (Feather, Nanda).
- ``sigmoid``: ``sigmoid(z)`` of unconstrained logits.
- ``fourier``: lucid's preconditioning, ``sigmoid(C irfft2(F * scale) / 4)`` with
  ``scale = 1 / max(|f|, 1 / max(H, W))``, ``C`` the normalised square root of the ImageNet colour
  correlation (3 channels; identity otherwise), ``F`` optimised unconstrained.

Example:
    >>> import torch
    >>> x0 = torch.rand(2, 3, 8, 8) * 0.8 + 0.1
    >>> p = get_parametrization("fourier")(x0)
    >>> torch.allclose(p.image(), x0, atol=1e-5)
    True
"""

from __future__ import annotations

from typing import Any

import torch

from repalign._registry import Registry, Summary

__all__ = [
    "PARAMETRIZATIONS",
    "FourierParam",
    "Parametrization",
    "PixelParam",
    "SigmoidParam",
    "get_parametrization",
]

PARAMETRIZATIONS: Registry[type[Parametrization], Summary] = Registry("parametrization", Summary)

# square root of the ImageNet colour correlation (lucid), normalised by its largest column norm
_COLOR_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float64
)
_COLOR = _COLOR_SQRT / torch.linalg.vector_norm(_COLOR_SQRT, dim=0).max()


class Parametrization:
    """Base class; see the module docstring for the contract."""

    params: list[torch.Tensor]

    def __init__(self, x0: torch.Tensor) -> None:
        self.shape = tuple(x0.shape)

    def image(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """(n, C, H, W) images in [0, 1] of the selected samples."""
        raise NotImplementedError

    def project(self) -> None:
        """Called without grad after every optimiser step."""

    @staticmethod
    def _rows(t: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        return t if rows is None else t.index_select(0, rows)


@PARAMETRIZATIONS.register("pixel", summary="pixels clamped to [0, 1] after every step")
class PixelParam(Parametrization):
    """Pixels optimised directly and clamped to [0, 1] after each step."""

    def __init__(self, x0: torch.Tensor) -> None:
        super().__init__(x0)
        self.params = [x0.detach().clone().clamp_(0, 1).requires_grad_(True)]

    def image(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        return self._rows(self.params[0], rows)

    def project(self) -> None:
        self.params[0].clamp_(0.0, 1.0)


def _logit(x: torch.Tensor, eps: float) -> torch.Tensor:
    x = x.clamp(eps, 1 - eps)
    return torch.log(x) - torch.log1p(-x)


@PARAMETRIZATIONS.register("sigmoid", summary="sigmoid of unconstrained logits")
class SigmoidParam(Parametrization):
    """``image = sigmoid(z)``; ``z`` starts at ``logit(x0)`` with x0 clipped to [eps, 1 - eps]."""

    def __init__(self, x0: torch.Tensor, eps: float = 1e-3) -> None:
        super().__init__(x0)
        self.params = [_logit(x0.detach(), eps).requires_grad_(True)]

    def image(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self._rows(self.params[0], rows))


def fourier_scale(h: int, w: int, decay_power: float = 1.0) -> torch.Tensor:
    """(H, W // 2 + 1) spectrum scale ``1 / max(|f|, 1 / max(H, W)) ** decay_power``."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(w, dtype=torch.float64)[None, :]
    freqs = torch.sqrt(fx**2 + fy**2)
    return 1.0 / freqs.clamp_min(1.0 / max(h, w)) ** decay_power


@PARAMETRIZATIONS.register("fourier", summary="lucid's Fourier + colour-decorrelated sigmoid image")
class FourierParam(Parametrization):
    """Fourier coefficients with colour decorrelation, optimised unconstrained (lucid/lucent).

    Args:
        x0: (N, C, H, W) starting images; the coefficients are set so that the image equals
            ``x0`` clipped to [eps, 1 - eps].
        decorrelate: apply the colour matrix (3-channel images only).
        decay_power: exponent of the 1/f spectrum scaling.
        eps: clipping of ``x0`` before the inverse sigmoid.
    """

    def __init__(
        self, x0: torch.Tensor, decorrelate: bool = True, decay_power: float = 1.0, eps: float = 1e-3
    ) -> None:
        super().__init__(x0)
        _, c, h, w = x0.shape
        dtype, dev = x0.dtype, x0.device
        self.hw = (h, w)
        self.scale = fourier_scale(h, w, decay_power).to(dev, dtype)
        color = _COLOR if (decorrelate and c == 3) else torch.eye(c, dtype=torch.float64)
        self.color = color.to(dev, dtype)
        z = _logit(x0.detach(), eps)
        spatial = 4.0 * torch.einsum("ij,njhw->nihw", torch.linalg.inv(self.color), z)
        spec = torch.fft.rfft2(spatial, norm="ortho") / self.scale
        self.params = [torch.view_as_real(spec).contiguous().requires_grad_(True)]

    def image(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        spec = torch.view_as_complex(self._rows(self.params[0], rows)) * self.scale
        spatial = torch.fft.irfft2(spec, s=self.hw, norm="ortho") / 4.0
        return torch.sigmoid(torch.einsum("ij,njhw->nihw", self.color, spatial))


def get_parametrization(spec: Any) -> Any:
    """The parametrization class called ``spec`` (a class or callable is passed through)."""
    return PARAMETRIZATIONS.get(spec)
