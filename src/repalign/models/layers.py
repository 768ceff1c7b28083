"""``default_layers``: which layers to read when none are named.

A model's ``meta["default_layers"]`` wins. Otherwise the layers are found from the network's
structure and one probe forward (a single zero image):

- the *pooled* layer: the last pooling module after which only the output head computes
  (``avgpool``, ``global_pool``, ``head.global_pool``); else a final normalisation layer
  (``layernorm`` of a DINOv2); else the last top-level module before the head that is not a
  dropout, identity or flatten (``norm`` of a timm ViT, ``encoder`` of a torchvision ViT);
- a *mid-level* layer: the middle block of the network's stages (``layer3`` of a ResNet,
  ``blocks.5`` of a 12-block ViT), found by expanding the largest stage until at least four
  stages are blocks (a list of identical blocks is never split further).

Example:
    >>> from torchvision.models import resnet18
    >>> from repalign.models import Model, Preprocess
    >>> default_layers(Model(resnet18(), Preprocess(), input_size=(3, 64, 64)))
    ['layer3', 'avgpool']
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from repalign.models.model import Model

__all__ = ["default_layers"]

_TRIVIAL = (nn.Dropout, nn.Identity, nn.Flatten)


def _is_pool(module: nn.Module) -> bool:
    """Average/adaptive/attention pooling; not max pooling, not a transformer's dense pooler."""
    cls = type(module).__name__
    return "Pool" in cls and "MaxPool" not in cls and not cls.endswith("Pooler")


def _is_norm(module: nn.Module) -> bool:
    return re.search(r"Norm(\dd)?$", type(module).__name__) is not None


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _root(network: nn.Module) -> tuple[str, nn.Module]:
    """Descend through wrappers that hold a single child with parameters."""
    prefix, module = "", network
    while True:
        children = [(n, c) for n, c in module.named_children() if _has_params(c)]
        if len(children) != 1 or any(True for _ in module.parameters(recurse=False)):
            return prefix, module
        name, module = children[0]
        prefix = f"{prefix}{name}."


def _pooled(root: nn.Module, prefix: str, order: dict[str, int]) -> str | None:
    """The penultimate representation (a name relative to ``root``), or None."""
    modules: dict[str, nn.Module] = {n: m for n, m in root.named_modules()
                                     if n and prefix + n in order}
    top = sorted((n for n in modules if "." not in n), key=lambda n: order[prefix + n])
    with_params = [n for n in top if _has_params(modules[n])]
    if not with_params:
        return None
    last = with_params[-1]
    head = None if _is_norm(modules[last]) else last
    # a pooling module after which only the head computes anything
    weighted = [n for n, m in modules.items() if any(True for _ in m.parameters(recurse=False))]
    pools = sorted((n for n, m in modules.items() if _is_pool(m)), key=lambda n: -order[prefix + n])
    for pool in pools:
        after = [n for n in weighted if order[prefix + n] > order[prefix + pool]]
        if all(n.split(".")[0] == head for n in after):
            return pool
    if head is None:
        return last
    for name in reversed(top[: top.index(head)]):
        if not isinstance(modules[name], _TRIVIAL):
            return name
    return None


def _mid(root: nn.Module, prefix: str, order: dict[str, int], pooled: str) -> str | None:
    """The middle block before ``pooled``, expanding the largest stage until there are >= 4."""
    modules = dict(root.named_modules())
    limit = order[prefix + pooled]

    def finish(name: str) -> int:
        """When a module finishes; a container never called (ModuleList) finishes with its last child."""
        if prefix + name in order:
            return order[prefix + name]
        inner = [order[prefix + n] for n in modules if n.startswith(name + ".") and prefix + n in order]
        return max(inner, default=limit + 1)

    def kids(name: str) -> list[str]:
        out = []
        for child, sub in modules[name].named_children():
            full = f"{name}.{child}" if name else child
            if _has_params(sub) and finish(full) <= limit:
                out.append(full)
        return out

    def is_container(name: str) -> bool:
        return name != pooled and any(True for _ in modules[name].children())

    def is_block(name: str) -> bool:
        """An element of a list of same-class blocks (a ViT's layers): never split further."""
        parent = modules[name.rpartition(".")[0]] if "." in name else root
        siblings = list(parent.children())
        return (
            isinstance(parent, (nn.ModuleList, nn.Sequential))
            and len(siblings) >= 2
            and len({type(c) for c in siblings}) == 1
        )

    stages = kids("")
    while sum(is_container(s) for s in stages) < 4:
        candidates = [s for s in stages if kids(s) and not is_block(s)]
        if not candidates:
            break
        big = max(candidates, key=lambda s: sum(p.numel() for p in modules[s].parameters()))
        i = stages.index(big)
        stages[i : i + 1] = kids(big)
    stages = [s for s in stages if s != pooled and finish(s) < limit and prefix + s in order]
    containers = [s for s in stages if is_container(s)]
    pick = containers if len(containers) >= 2 else stages
    return pick[len(pick) // 2] if pick else None


def default_layers(model: Model) -> list[str]:
    """A mid-level layer and the penultimate pooled layer of ``model`` (in execution order).

    Args:
        model: any :class:`Model`.

    Returns:
        Layer names, shallow first; ``model.meta["default_layers"]`` when set. Empty only for a
        network with no module to pick (a single layer).
    """
    preset: Any = model.meta.get("default_layers")
    if preset:
        return list(preset)
    probe = torch.zeros((1, *model.input_size), device=model.device)
    order = {name: i for i, name in enumerate(model.execution_order(probe))}
    prefix, root = _root(model.network)
    pooled = _pooled(root, prefix, order)
    if pooled is None:
        return list(order)[-1:]
    mid = _mid(root, prefix, order, pooled)
    return [prefix + mid, prefix + pooled] if mid else [prefix + pooled]
