"""``extract_features``: batched, early-exit, cached feature extraction for any :class:`Model`;
``penultimate_features``: the features of the layer a model names as its penultimate."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repalign._device import resolve_device
from repalign._hashing import hash_array
from repalign._progress import progress
from repalign._validation import check_images, describe
from repalign.errors import ConfigError, ShapeError
from repalign.features.cache import feature_key, load_cached, store_cached
from repalign.features.io import HDF5FeatureWriter, open_hdf5_features
from repalign.features.reducers import REDUCERS, Reducer, apply_reducer, reducer_id
from repalign.features.stream import FolderImages, batches, default_workers
from repalign.models.model import Model

__all__ = ["extract_features", "penultimate_features"]

log = logging.getLogger(__name__)

Sink = Callable[[str, int, np.ndarray], None]


def _is_folder(stimuli: Any) -> bool:
    return isinstance(stimuli, (str, Path)) and not str(stimuli).startswith("bundled:") and \
        Path(stimuli).is_dir()


def _as_images(stimuli: Any, channels: int) -> tuple[torch.Tensor, list[str], Callable[[], str]]:
    """Images (N, C, H, W) float32 on the CPU, their ids, and a lazy content hash."""
    from repalign.data.stimuli import Stimuli

    if isinstance(stimuli, (str, Path)):
        from repalign.data.loaders import load_stimuli

        stimuli = load_stimuli(stimuli, channels=channels)
    if isinstance(stimuli, Stimuli):
        images = stimuli.images
        ids = list(stimuli.ids)
        sha: Callable[[], str] = lambda: stimuli.sha256  # noqa: E731
    elif isinstance(stimuli, (torch.Tensor, np.ndarray)):
        if stimuli.ndim == 4 and stimuli.shape[0] == 0:
            raise ShapeError("stimuli hold no image (N = 0); pass at least one.")
        images = check_images(stimuli, "stimuli").detach().to("cpu", torch.float32).contiguous()
        ids = [str(i) for i in range(images.shape[0])]
        sha = lambda: hash_array(images)  # noqa: E731
    else:
        raise ShapeError(
            f"stimuli must be a Stimuli, a tensor or array (N, C, H, W) in [0, 1], or a source "
            f"name such as 'bundled:digits'; received {describe(stimuli)}."
        )
    if images.shape[0] == 0:
        raise ShapeError("stimuli hold no image (N = 0); pass at least one.")
    if images.shape[1] != channels:
        raise ShapeError(
            f"The model takes {channels}-channel images but the stimuli have {images.shape[1]} "
            f"(shape {tuple(images.shape)}); load them with channels={channels}."
        )
    return images, ids, sha


def _reducers(reduce: Any, layers: list[str]) -> dict[str, str | Reducer]:
    if isinstance(reduce, Mapping):
        extra = [k for k in reduce if k not in layers]
        missing = [layer for layer in layers if layer not in reduce]
        if extra or missing:
            raise ConfigError(
                f"reduce maps layers to reducers but names {extra} that were not requested and "
                f"lacks {missing}; give one reducer per requested layer."
            )
        chosen = {layer: reduce[layer] for layer in layers}
    else:
        chosen = dict.fromkeys(layers, reduce)
    for r in chosen.values():
        if isinstance(r, str):
            REDUCERS.get(r)
        elif not callable(r):
            raise ConfigError(f"A reducer is a name ({REDUCERS.list()}) or a callable, received {r!r}.")
    return chosen


def _compiled(model: Model, layers: list[str], probe: torch.Tensor,
              backend: str) -> Callable[[torch.Tensor], Any]:
    """``x -> {layer: activation}`` as one ``torch.compile`` d graph that ends at the deepest
    layer: the network traced with torch.fx up to ``layers`` (later layers are dropped)."""
    from torchvision.models.feature_extraction import create_feature_extractor

    calls = model.layer_calls(probe)
    repeated = [layer for layer in layers if calls.get(layer, 0) > 1]
    if repeated:
        raise ConfigError(f"compile=True cannot read {repeated}: these modules run more than once "
                          "per forward; use compile=False or a layer that runs once.")
    try:
        traced = create_feature_extractor(model.network, return_nodes={n: n for n in layers})
    except Exception as exc:  # torch.fx raises many types on untraceable code
        raise ConfigError(f"compile=True traces {model.spec} with torch.fx, which failed "
                          f"({type(exc).__name__}: {str(exc)[:200]}); use compile=False.") from exc
    pre = model.preprocess
    return torch.compile(lambda x: traced(pre(x)), backend=backend)


def _needs_probe(model: Model, layers: list[str]) -> bool:
    """Whether early exit needs a separate one-image probe forward (to count layer calls) rather
    than counting them during the first batch's full forward: not when a requested layer holds
    the network's last registered module, as nothing after it would be skipped."""
    leaves = [name for name, mod in model.network.named_modules() if name and not list(mod.children())]
    last = leaves[-1] if leaves else ""
    return not any(last == layer or last.startswith(layer + ".") for layer in layers)


def _run(
    model: Model,
    source: torch.Tensor | FolderImages,
    layers: list[str],
    reducers: Mapping[str, str | Reducer],
    opts: dict[str, Any],
    device: torch.device,
    quiet: bool,
    sink: Sink,
) -> None:
    """One pass over the images in batches; every requested layer from the same forward."""
    n, bs = len(source), opts["batch_size"]
    bar = progress(batches(source, bs, device, num_workers=opts["num_workers"],
                           channels_last=opts["channels_last"]),
                   quiet=quiet, total=-(-n // bs), desc=f"features {model.spec}", unit="batch")
    forward: Callable[[torch.Tensor], Any] | None = None
    probe = _needs_probe(model, layers)
    for start, xb in bar:
        with torch.inference_mode():
            if opts["compile"]:
                backend = opts["compile"] if isinstance(opts["compile"], str) else "inductor"
                forward = forward or _compiled(model, layers, xb, backend)
                outs = forward(xb)
            else:
                outs = model.features(xb, layers, early_exit=True, detach=True, probe=probe)
            for layer in layers:
                block = apply_reducer(reducers[layer], layer, outs[layer])
                sink(layer, start, block.to(torch.float32).cpu().numpy())


def extract_features(
    model: Model | str,
    stimuli: Any,
    layers: str | Sequence[str] | None = None,
    reduce: str | Reducer | Mapping[str, str | Reducer] = "flatten",
    batch_size: int = 64,
    device: str | torch.device | None = None,
    cache: bool = False,
    cache_dir: str | Path | None = None,
    out: str | Path | None = None,
    quiet: bool = False,
    *,
    num_workers: int | None = None,
    channels_last: bool = False,
    compile: bool | str = False,
) -> dict[str, np.ndarray]:
    """Features of ``layers`` for every stimulus: ``{layer: (N, D) float32}``, in stimulus order.

    All layers come from one forward per batch, which stops right after the deepest requested
    layer. The model runs in eval mode under ``torch.inference_mode`` (its training flag is
    restored afterwards).

    Args:
        model: a :class:`~repalign.models.Model`, or a spec passed to ``create_model``.
        stimuli: :class:`~repalign.data.Stimuli`, a tensor/array (N, C, H, W) in [0, 1], a
            folder of images (streamed: decoded batch by batch in ``num_workers`` processes), a
            :class:`~repalign.features.stream.FolderImages`, or ``"bundled:..."``.
        layers: layer names (see ``model.layers()``); None picks
            :func:`~repalign.models.default_layers`.
        reduce: a reducer name (``flatten``, ``avgpool``, ``cls_token``, ``mean_tokens``), a
            callable ``(N, ...) tensor -> (N, D)``, or a dict giving one per layer.
        batch_size: images per forward.
        device: where to run; None keeps the model's device, otherwise the model is moved there.
        cache: reuse/store results in the on-disk cache (keyed by model weights and
            preprocessing, layer, reducer and stimuli content).
        cache_dir: cache folder (default ``$REPALIGN_CACHE`` or ``~/.cache/repalign``).
        out: an ``.h5``/``.hdf5`` file: batches are written as they finish (memory stays
            bounded) and the returned arrays are read-only memory maps of that file.
        quiet: no progress bar.
        num_workers: processes that decode the files of a folder ``stimuli`` while the model
            computes (None: one per spare core, :func:`~repalign.features.stream.default_workers`;
            0: decode in this process). A folder is streamed, never held in memory whole,
            unless ``cache=True`` (the cache key needs the decoded pixels).
        channels_last: run the network and its inputs in ``torch.channels_last`` memory format
            (faster convolutions on many CPUs and GPUs; the model is converted back after).
        compile: ``torch.compile`` the forward up to the deepest layer (traced with torch.fx;
            the first batch pays the compilation); a string names the backend (default
            ``"inductor"``). Layers must be modules that run once per forward.

    Returns:
        ``{layer: np.ndarray (N, D) float32}`` in the order of ``layers``.

    Raises:
        ShapeError: wrong stimuli rank/channels/range, a reducer that does not fit a layer.
        UnknownNameError: unknown layer or reducer (the valid names are listed).
        ConfigError: bad ``batch_size``, repeated layers, ``out`` not HDF5.

    Example:
        >>> import torch, repalign as ra
        >>> m = ra.create_model("torchvision:resnet18", pretrained=False, device="cpu", image_size=32)
        >>> f = ra.extract_features(m, torch.rand(5, 3, 32, 32), ["layer2", "avgpool"], reduce="avgpool")
        >>> {k: v.shape for k, v in f.items()}
        {'layer2': (5, 128), 'avgpool': (5, 512)}
    """
    if isinstance(model, str):
        from repalign.models.factory import create_model

        model = create_model(model, device=device)
    if not isinstance(model, Model):
        raise ConfigError(f"model must be a repalign Model or a spec string, received {describe(model)}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive int, received {batch_size!r}.")
    if layers is None:
        from repalign.models.layers import default_layers

        layers = default_layers(model)
    names = model.check_layers(layers)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"Layer(s) {repeated} requested more than once; list each layer once.")
    reducers = _reducers(reduce, names)
    workers = default_workers() if num_workers is None else num_workers
    opts = {"batch_size": batch_size, "num_workers": workers, "channels_last": bool(channels_last),
            "compile": compile}
    source: torch.Tensor | FolderImages
    if _is_folder(stimuli):
        stimuli = FolderImages(stimuli, model.input_size[0])
    if isinstance(stimuli, FolderImages) and cache:  # the cache key hashes the decoded pixels
        from repalign.data.loaders import load_stimuli

        stimuli = load_stimuli(stimuli.root, channels=stimuli.channels, limit=len(stimuli))
    if isinstance(stimuli, FolderImages):
        source, ids = stimuli, stimuli.ids
    else:
        source, ids, stimuli_sha = _as_images(stimuli, model.input_size[0])
    if device is not None:
        model.to(resolve_device(device))
    dev = model.device
    n = len(source)

    results: dict[str, np.ndarray] = {}
    keys: dict[str, str] = {}
    if cache:
        model_key, sha = model.cache_key(), stimuli_sha()
        for layer in names:
            keys[layer] = feature_key(model_key, layer, reducer_id(reducers[layer]), sha)
            hit = load_cached(keys[layer], cache_dir)
            if hit is not None and hit.shape[0] == n:
                results[layer] = hit
    todo = [layer for layer in names if layer not in results]
    log.info("%s: %d layer(s) from cache, %d to compute on %s", model.spec, len(results), len(todo), dev)

    was_training = model.training
    model.eval()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    try:
        if out is not None:
            with HDF5FeatureWriter(out, n, ids) as writer:
                for layer, arr in results.items():
                    writer.write(layer, 0, arr)
                if todo:
                    _run(model, source, todo, reducers, opts, dev, quiet, writer.write)
            computed = open_hdf5_features(out, names)
            results = computed
        elif todo:
            buffers: dict[str, np.ndarray] = {}

            def fill(layer: str, start: int, block: np.ndarray) -> None:
                if layer not in buffers:
                    buffers[layer] = np.empty((n, *block.shape[1:]), dtype=np.float32)
                buffers[layer][start : start + len(block)] = block

            _run(model, source, todo, reducers, opts, dev, quiet, fill)
            results.update(buffers)
    finally:
        model.train(was_training)
        if channels_last:
            model.to(memory_format=torch.contiguous_format)
    if cache:
        for layer in todo:
            store_cached(keys[layer], results[layer], cache_dir)
    return {layer: results[layer] for layer in names}


def penultimate_features(model: Model, stimuli: Any, device: str | torch.device | None = None
                         ) -> np.ndarray:
    """Features of the layer ``model`` names as its penultimate (``model.meta["penultimate"]``).

    Zoo models and DreamSim name it; it is the input of the classifier (or the embedding).

    Args:
        model: a :class:`~repalign.models.Model` whose meta names ``"penultimate"``.
        stimuli: anything :func:`extract_features` reads, e.g. (N, C, H, W) images in [0, 1].
        device: where to run (see :func:`extract_features`).

    Returns:
        (N, D) float32 features, flattened, in stimulus order.

    Raises:
        ConfigError: the model does not name its penultimate layer.
    """
    layer = model.meta.get("penultimate")
    if layer is None:
        raise ConfigError(f"model {model.spec!r} does not name its penultimate layer in meta.")
    return extract_features(model, stimuli, [layer], device=device, quiet=True)[layer]
