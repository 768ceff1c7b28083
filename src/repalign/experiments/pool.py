"""The images of an experiment: a stimulus set or a metamer result, as named PNG files.

Every image gets a short name that is also its URL under ``/stimuli/``: ``x00012`` for
stimulus 12 of a stimulus set; ``m00012``, ``s00012`` for metamer row 12 of a metamer result and
its seed, ``t00003`` for the result's fourth distinct target. The pool (PNG bytes and what each
image is) is written into the experiment database when it is created, so a database is complete
on its own: the server serves from it and the export reads it.

Example:
    >>> from repalign.experiments.config import load_experiment
    >>> cfg = load_experiment({"paradigm": "odd_one_out",
    ...                        "stimuli": {"source": "bundled:digits", "limit": 5}})
    >>> pool = build_pool(cfg)
    >>> [item.name for item in pool.items][:2], pool.items[0].png[:4]
    (['x00000', 'x00001'], b'\\x89PNG')
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

from repalign.errors import ConfigError, RepalignError
from repalign.experiments.config import ExperimentConfig

__all__ = ["Pool", "PoolItem", "build_pool", "png_bytes"]


@dataclass(frozen=True)
class PoolItem:
    """One image of the experiment.

    Attributes:
        name: URL name (``x00012``, ``m00003``, ``s00003``, ``t00001``).
        kind: ``"stimulus"``, ``"metamer"``, ``"seed"`` or ``"target"``.
        index: stimulus index in the set, metamer row, or distinct-target position.
        source_id: the stimulus id (or the target id of a metamer, seed and target).
        label: class index, -1 when unknown.
        png: the PNG file.
        recipe: a metamer's (and its seed's) recipe: generator, layer, regularizer, init, optimizer.
        target: for a metamer or seed, the name of its target.
    """

    name: str
    kind: str
    index: int
    source_id: str
    label: int
    png: bytes = field(repr=False)
    recipe: dict[str, str] = field(default_factory=dict)
    target: str = ""

    def meta(self) -> dict[str, Any]:
        """Everything but the PNG, JSON-able."""
        return {"name": self.name, "kind": self.kind, "index": self.index,
                "source_id": self.source_id, "label": self.label, "recipe": self.recipe,
                "target": self.target}


@dataclass(frozen=True)
class Pool:
    """The images of an experiment and their class names (``label_names[label]``)."""

    items: list[PoolItem]
    label_names: list[str]

    def by_kind(self, kind: str) -> list[PoolItem]:
        """The items of one kind, in order."""
        return [it for it in self.items if it.kind == kind]


def png_bytes(image: torch.Tensor) -> bytes:
    """Encode one (C, H, W) image in [0, 1] as PNG (8 bit, grey or RGB)."""
    from PIL import Image

    arr = (image.detach().cpu().permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255)
    arr = arr.astype(np.uint8)
    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _from_stimuli(cfg: ExperimentConfig) -> Pool:
    from repalign.data import load_stimuli

    spec = cfg.stimuli
    assert spec.source is not None  # checked by the config
    source = spec.source
    if not source.startswith("bundled:"):
        source = str(cfg.resolve_path(source))
    try:
        stim = load_stimuli(source, size=spec.size, channels=spec.channels, limit=spec.limit)
    except RepalignError as exc:
        raise ConfigError(f"stimuli.source: {exc}") from exc
    labels = stim.labels if stim.labels is not None else np.full(len(stim), -1)
    names = (list(stim.label_names) if stim.label_names is not None
             else [str(v) for v in range(int(labels.max()) + 1)])
    items = [PoolItem(f"x{i:05d}", "stimulus", i, stim.ids[i], int(labels[i]),
                      png_bytes(stim.images[i])) for i in range(len(stim))]
    return Pool(items, names)


def _from_metamers(cfg: ExperimentConfig) -> Pool:
    from repalign.evaluation._common import RECIPE
    from repalign.metamers.result import MetamerResult

    assert cfg.stimuli.metamers is not None
    try:
        res = MetamerResult.load(cfg.resolve_path(cfg.stimuli.metamers))
    except (RepalignError, OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"stimuli.metamers: {exc}") from exc
    n = len(res) if cfg.stimuli.limit is None else min(len(res), cfg.stimuli.limit)
    labels = np.asarray(res.target_labels)
    targets: dict[str, PoolItem] = {}
    items: list[PoolItem] = []
    for i in range(n):
        tid = res.target_ids[i]
        if tid not in targets:
            u = len(targets)
            targets[tid] = PoolItem(f"t{u:05d}", "target", u, tid, int(labels[i]),
                                    png_bytes(res.targets[i]))
        recipe = {col: str(getattr(res, attr)[i]) for col, attr in RECIPE.items()}
        recipe["repeat"] = str(int(res.repeats[i]))
        tname = targets[tid].name
        items.append(PoolItem(f"m{i:05d}", "metamer", i, tid, int(labels[i]),
                              png_bytes(res.images[i]), recipe, tname))
        items.append(PoolItem(f"s{i:05d}", "seed", i, tid, int(labels[i]),
                              png_bytes(res.seeds[i]), recipe, tname))
    known = labels[:n][labels[:n] >= 0]
    names = [str(v) for v in range(int(known.max()) + 1)] if known.size else []
    return Pool([*items, *targets.values()], names)


def build_pool(cfg: ExperimentConfig) -> Pool:
    """The images of ``cfg``'s stimuli (or metamer result), encoded as PNG.

    Raises:
        ConfigError: the stimuli cannot be loaded, or do not fit the paradigm (fewer than three
            images; recognition without class labels).
    """
    pool = _from_stimuli(cfg) if cfg.stimuli.source is not None else _from_metamers(cfg)
    shown = [it for it in pool.items if it.kind in ("stimulus", "metamer")]
    if len(shown) < 3:
        raise ConfigError(f"stimuli: an experiment needs at least 3 images, received {len(shown)}.")
    if cfg.paradigm == "recognition" and (not pool.label_names or min(it.label for it in shown) < 0):
        raise ConfigError("stimuli: recognition needs class labels for every image; the stimuli "
                          "(or the metamers' targets) have none.")
    return pool
