"""LPIPS (Zhang et al. 2018) through the ``lpips`` package, with offline trunk loading.

Variants: trunk ``alex``, ``vgg`` or ``squeeze``; *calibrated* (the package's linear heads, fitted to
human 2AFC judgements, shipped inside the wheel) or *uncalibrated* (the package's ``lpips=False``
baseline: unit-normalised trunk features, squared differences summed over channels, averaged over
space, summed over layers).

The trunk weights are torchvision's ImageNet checkpoints. They are read from the torch hub cache
(``torch.hub.get_dir()/checkpoints/``, i.e. ``$TORCH_HOME/hub/checkpoints``) or from ``trunk_path``;
nothing is downloaded. Without them :class:`~repalign.errors.WeightsUnavailableError` names the file
and the folder. ``pnet_rand=True`` builds a random trunk (seeded, for tests only; a warning says so).

Inputs: [0, 1] images are mapped to [-1, 1] as the package expects; 1-channel images are repeated
to 3 channels; images whose smaller side is below ``min_size`` (default 64, the size of the BAPPS
patches LPIPS was calibrated on; AlexNet needs at least 32) are upsampled bilinearly to it.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from repalign._deps import require
from repalign.errors import ConfigError, DataFormatError, ShapeError, WeightsUnavailableError
from repalign.perceptual.base import Distance, Embedding, to_rgb

__all__ = ["LPIPS", "TRUNK_WEIGHTS", "trunk_file"]

log = logging.getLogger(__name__)

# trunk name -> torchvision checkpoint URL (its file name is what the hub cache holds)
TRUNK_WEIGHTS: dict[str, str] = {
    "alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "squeeze": "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
}


def trunk_file(net: str) -> Path:
    """Where the trunk checkpoint of ``net`` is looked for in the torch hub cache."""
    if net not in TRUNK_WEIGHTS:
        raise ConfigError(f"LPIPS trunk must be one of {sorted(TRUNK_WEIGHTS)}, received {net!r}.")
    return Path(torch.hub.get_dir()) / "checkpoints" / TRUNK_WEIGHTS[net].rsplit("/", 1)[1]


def _resolve_trunk(net: str, trunk_path: str | Path | None) -> Path:
    name = TRUNK_WEIGHTS[net].rsplit("/", 1)[1]
    if trunk_path is not None:
        path = Path(trunk_path).expanduser()
        path = path / name if path.is_dir() else path
        if not path.is_file():
            raise WeightsUnavailableError(
                f"LPIPS {net} trunk weights not found at {path}. Expected torchvision's ImageNet "
                f"checkpoint {name} (from {TRUNK_WEIGHTS[net]}); pass its path as trunk_path."
            )
        return path
    path = trunk_file(net)
    if not path.is_file():
        raise WeightsUnavailableError(
            f"LPIPS {net} trunk weights are not in the torch hub cache and repalign never "
            f"downloads: expected the file {path}. On a machine with network access, download "
            f"{TRUNK_WEIGHTS[net]} and place it at that path (the folder is $TORCH_HOME/hub/"
            f"checkpoints, by default ~/.cache/torch/hub/checkpoints), or pass trunk_path= to "
            "the file. For tests only, pnet_rand=True builds a random trunk."
        )
    return path


def _load_trunk(net: torch.nn.Module, path: Path) -> None:
    """Copy torchvision ``features.{i}.*`` weights into the package's ``slice{k}.{i}.*`` modules."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataFormatError(f"Could not read LPIPS trunk weights {path}: {exc}") from exc
    target = net.state_dict()
    mapped = {}
    for key, value in target.items():
        match = re.fullmatch(r"slice\d+\.(\d+)\.(.+)", key)
        src = f"features.{match.group(1)}.{match.group(2)}" if match else key
        if src not in state or tuple(state[src].shape) != tuple(value.shape):
            raise DataFormatError(
                f"{path} is not the expected torchvision checkpoint: missing or mis-shaped {src!r} "
                f"(needed {tuple(value.shape)}). Use the file from the URL in the LPIPS docs."
            )
        mapped[key] = state[src]
    net.load_state_dict(mapped)


class LPIPS(Distance):
    """LPIPS distance between [0, 1] images, differentiable (frozen weights).

    Args:
        net: trunk, ``"alex"``, ``"vgg"`` or ``"squeeze"``.
        calibrated: use the package's linear heads fitted to human judgements; ``False`` gives
            the uncalibrated baseline (equal weights).
        trunk_path: a torchvision checkpoint file (or the folder holding it) instead of the hub cache.
        pnet_rand: random trunk for tests; not a perceptual metric.
        min_size: smaller sides are upsampled to this size; ``None`` keeps the input size.

    Example:
        >>> d = LPIPS("alex", pnet_rand=True)   # doctest: +SKIP
        >>> d(torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)).shape   # doctest: +SKIP
        torch.Size([2])
    """

    def __init__(
        self,
        net: str = "alex",
        *,
        calibrated: bool = True,
        trunk_path: str | Path | None = None,
        pnet_rand: bool = False,
        min_size: int | None = 64,
    ) -> None:
        super().__init__()
        if net not in TRUNK_WEIGHTS:
            raise ConfigError(f"LPIPS trunk must be one of {sorted(TRUNK_WEIGHTS)}, received {net!r}.")
        if min_size is not None and min_size < 1:
            raise ConfigError(f"min_size must be positive or None, received {min_size}.")
        self.net_name = net
        self.calibrated = calibrated
        self.min_size = min_size
        self.name = f"lpips:{net}" + ("" if calibrated else "_uncal")
        lpips = require("lpips", "lpips", purpose="the LPIPS perceptual distance")
        path = None if pnet_rand else _resolve_trunk(net, trunk_path)
        with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
            # torchvision warns about the package's deprecated ``pretrained=`` argument
            warnings.simplefilter("ignore", UserWarning)
            torch.manual_seed(0)
            self.lp = lpips.LPIPS(net=net, lpips=calibrated, pretrained=calibrated, pnet_rand=True,
                                  verbose=False)
        if pnet_rand:
            warnings.warn(
                f"LPIPS {net} with a random trunk (pnet_rand=True) is for tests only; it is not a "
                "perceptual metric.",
                stacklevel=3,
            )
            self.name += "_rand"
        elif path is not None:
            _load_trunk(self.lp.net, path)
            log.info("LPIPS %s trunk loaded from %s", net, path)
        self.lp.eval()
        for p in self.lp.parameters():
            p.requires_grad_(False)

    def embed(self, x: torch.Tensor) -> Embedding:
        """Unit-normalised trunk features of each layer, a list of (N, C_l, H_l, W_l) tensors."""
        x = to_rgb(x)
        side = min(x.shape[-2:])
        if self.min_size is not None and side < self.min_size:
            h, w = x.shape[-2:]
            size = (round(h * self.min_size / side), round(w * self.min_size / side))
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        x = self.lp.scaling_layer(2.0 * x - 1.0)
        try:
            outs = self.lp.net(x)
        except RuntimeError as exc:
            if "too small" not in str(exc):
                raise
            raise ShapeError(
                f"{self.name}: images of {tuple(x.shape[-2:])} pixels are too small for the "
                f"{self.net_name} trunk; use min_size=64 (the default) or larger images."
            ) from exc
        lpips = require("lpips", "lpips")
        return [lpips.normalize_tensor(o) for o in outs]

    def between(self, ex: Embedding, ey: Embedding) -> torch.Tensor:
        terms = []
        for k, (a, b) in enumerate(zip(ex, ey, strict=True)):
            diff = (a - b) ** 2
            per = self.lp.lins[k](diff) if self.calibrated else diff.sum(1, keepdim=True)
            terms.append(per.mean((1, 2, 3)))
        return torch.stack(terms).sum(0)
