"""``torch.compile`` for metamer generation, around the layers the run reads.

Early exit stops a forward by raising from a hook on the deepest layer read, and the activations
are read by hooks; a graph cannot hold either, so compiling the whole network would fall back to
eager code at every step. Instead, the largest submodules that are neither a read layer nor
contain one are compiled in place (``nn.Module.compile``: names and hooks stay as they are);
the read layers and their ancestors run eagerly and call the compiled pieces. Batch sizes vary
(rows leave the batch when they stop), so the pieces are compiled with dynamic shapes; every
compiled module shares ``nn.Module._call_impl``'s code, so dynamo's recompile limit is raised to
fit them while they are compiled.

Example:
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), nn.Flatten())
    >>> done = compile_untapped(net, ["1"], backend="eager")
    >>> [name for name, m in net.named_modules() if m in done]
    ['0']
    >>> uncompile(done)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["compile_untapped", "compiled", "uncompile"]


def compile_untapped(network: nn.Module, layers: Iterable[str], backend: str = "inductor"
                     ) -> list[nn.Module]:
    """Compile in place the largest submodules of ``network`` that are not on the path to a
    layer of ``layers`` (dotted names); returns them (for :func:`uncompile`)."""
    tapped = set(layers)
    done: list[nn.Module] = []

    def visit(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            if any(t == full or t.startswith(full + ".") for t in tapped):
                visit(child, full + ".")
            elif any(True for _ in child.parameters()) or any(True for _ in child.buffers()):
                child.compile(backend=backend, dynamic=True)
                done.append(child)

    visit(network, "")
    return done


def uncompile(modules: Iterable[nn.Module]) -> None:
    """Undo :func:`compile_untapped`: the modules run their eager code again."""
    for m in modules:
        m._compiled_call_impl = None


@contextmanager
def compiled(parts: Iterable[tuple[nn.Module, list[str]]], backend: str = "inductor"
             ) -> Iterator[list[nn.Module]]:
    """Within the block, each ``(network, layers)`` is compiled around its layers."""
    cfg = torch._dynamo.config
    before = cfg.recompile_limit
    done: list[nn.Module] = []
    try:
        for network, layers in parts:
            done += compile_untapped(network, layers, backend)
        # per module: with and without gradients, and the one-off traced forwards
        cfg.recompile_limit = max(before, 4 * len(done) + 8)
        yield done
    finally:
        uncompile(done)
        cfg.recompile_limit = before
