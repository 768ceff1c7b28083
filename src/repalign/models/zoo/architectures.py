"""The zoo's small architectures for 1x32x32 inputs: an MLP, a plain CNN and a small ResNet.

Each builder takes ``width`` and ``depth`` (what the sweep varies) and returns an
``nn.Sequential`` with readable layer names ending in ``head`` (the linear classifier). The CNN
and the ResNet end with ``pool`` (global average), ``flatten`` (the pooled penultimate features),
``head``; the MLP's penultimate layer is its last hidden ``relu<k>``. :func:`layer_roles` names
the early, mid and penultimate layers.

Example:
    >>> net = build_network("cnn", width=8, depth=3, in_channels=1, num_classes=5)
    >>> net(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 5])
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from repalign._registry import Registry, Summary
from repalign.errors import ConfigError

__all__ = [
    "ARCHITECTURES",
    "BasicBlock",
    "build_cnn",
    "build_mlp",
    "build_network",
    "build_resnet",
    "layer_roles",
]

ARCHITECTURES: Registry[Callable[..., nn.Sequential], Summary] = Registry("zoo architecture", Summary)


def _check(arch: str, width: int, depth: int, max_depth: int) -> None:
    if width < 1 or not 1 <= depth <= max_depth:
        raise ConfigError(
            f"{arch}: width must be >= 1 and depth in [1, {max_depth}], received width={width}, "
            f"depth={depth}."
        )


@ARCHITECTURES.register("mlp", summary="2x2 average pool, then depth hidden ReLU layers")
def build_mlp(width: int = 64, depth: int = 3, in_channels: int = 1, num_classes: int = 5,
              input_hw: int = 32) -> nn.Sequential:
    """MLP: ``pool`` (2x2 average, 32x32 -> 16x16), ``flatten``, then ``fc<k>``/``relu<k>`` for
    k = 1..depth (``width`` units each), then ``head``.

    The 2x2 pooling keeps the first layer small (the digits are 8x8 images upsampled 4x, so it
    loses almost nothing).
    """
    _check("mlp", width, depth, 8)
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        pool=nn.AvgPool2d(2), flatten=nn.Flatten()
    )
    fan_in = in_channels * (input_hw // 2) ** 2
    for k in range(1, depth + 1):
        layers[f"fc{k}"] = nn.Linear(fan_in, width)
        layers[f"relu{k}"] = nn.ReLU()
        fan_in = width
    layers["head"] = nn.Linear(fan_in, num_classes)
    return nn.Sequential(layers)


@ARCHITECTURES.register("cnn", summary="4x4 patch conv, then conv-ReLU-maxpool blocks")
def build_cnn(width: int = 16, depth: int = 3, in_channels: int = 1, num_classes: int = 5,
              input_hw: int = 32) -> nn.Sequential:
    """Plain CNN: ``block1`` = 4x4 conv with stride 4 and ReLU (the digits are 8x8 images
    upsampled 4x, so it sees one original pixel per step; 32x32 -> 8x8, ``width`` channels), then
    ``block<k>`` = 3x3 conv, ReLU, 2x2 max-pool (k = 2..depth, ``2 * width`` channels), then
    ``pool`` (global average), ``flatten``, ``head``."""
    _check("cnn", width, depth, 4)
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        block1=nn.Sequential(
            OrderedDict(conv=nn.Conv2d(in_channels, width, 4, stride=4), relu=nn.ReLU())
        )
    )
    c_in = width
    for k in range(2, depth + 1):
        layers[f"block{k}"] = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(c_in, 2 * width, 3, padding=1),
                relu=nn.ReLU(),
                maxpool=nn.MaxPool2d(2),
            )
        )
        c_in = 2 * width
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["head"] = nn.Linear(c_in, num_classes)
    return nn.Sequential(layers)


class BasicBlock(nn.Module):
    """Residual block: conv-BN-ReLU-conv-BN plus the (projected) input, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        y: torch.Tensor = self.relu2(out + self.shortcut(x))
        return y


@ARCHITECTURES.register("resnet", summary="4x4 patch stem, residual stages, global average pool")
def build_resnet(width: int = 8, depth: int = 3, in_channels: int = 1, num_classes: int = 5,
                 input_hw: int = 32, blocks: int = 1) -> nn.Sequential:
    """Small ResNet: ``stem`` (4x4 conv stride 4, BN, ReLU; 32x32 -> 8x8), then ``layer<k>`` for
    k = 1..depth, each ``blocks`` :class:`BasicBlock` (``width * 2**(k-1)`` channels, stride 2
    from k = 2), then ``pool``, ``flatten``, ``head``."""
    _check("resnet", width, depth, 3)
    if blocks < 1:
        raise ConfigError(f"resnet: blocks must be >= 1, received {blocks}.")
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        stem=nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(in_channels, width, 4, stride=4, bias=False),
                bn=nn.BatchNorm2d(width),
                relu=nn.ReLU(),
            )
        )
    )
    c_in = width
    for k in range(1, depth + 1):
        c_out = width * 2 ** (k - 1)
        stage = [BasicBlock(c_in, c_out, stride=1 if k == 1 else 2)]
        stage += [BasicBlock(c_out, c_out) for _ in range(blocks - 1)]
        layers[f"layer{k}"] = nn.Sequential(*stage)
        c_in = c_out
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["head"] = nn.Linear(c_in, num_classes)
    return nn.Sequential(layers)


def build_network(arch: str, **config: int) -> nn.Sequential:
    """Build a registered architecture (``"mlp"``, ``"cnn"``, ``"resnet"``) from its config."""
    builder: Callable[..., nn.Sequential] = ARCHITECTURES.get(arch)
    return builder(**config)


def layer_roles(arch: str, depth: int) -> dict[str, str]:
    """The ``early``, ``mid`` and ``penultimate`` layer names of an architecture of this depth.

    Example:
        >>> layer_roles("resnet", 3)
        {'early': 'layer1', 'mid': 'layer2', 'penultimate': 'flatten'}
    """
    mid = max(1, (depth + 1) // 2)
    if arch == "mlp":
        return {"early": "relu1", "mid": f"relu{mid}", "penultimate": f"relu{depth}"}
    prefix = {"cnn": "block", "resnet": "layer"}.get(arch)
    if prefix is None:
        ARCHITECTURES.get(arch)  # raises UnknownNameError listing the valid names
        raise ConfigError(f"no layer roles defined for architecture {arch!r}.")
    return {"early": f"{prefix}1", "mid": f"{prefix}{mid}", "penultimate": "flatten"}
