"""Where downloaded weights live, and how to use them without ever touching the network.

repalign never downloads at run time: before asking a library for pretrained weights it looks for
the file in that library's cache and, when it is missing, raises
:class:`~repalign.errors.WeightsUnavailableError` naming the file and the exact folder to put it in.
Paths are read from the environment at call time (``TORCH_HOME``, ``HF_HOME``, ``HF_HUB_CACHE``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from repalign.errors import WeightsUnavailableError

__all__ = [
    "find_hf_file",
    "hf_cache_dir",
    "hf_repo_folder",
    "hub_offline",
    "missing_hf_weights",
    "missing_torch_weights",
    "torch_checkpoint_dir",
    "torch_hub_file",
]

_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def torch_checkpoint_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (torch's download cache for ``load_state_dict_from_url``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def torch_hub_file(url: str) -> Path | None:
    """The cached copy of ``url`` in torch's checkpoint folder, or None."""
    path = torch_checkpoint_dir() / os.path.basename(url.split("?")[0])
    return path if path.is_file() else None


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def hf_repo_folder(repo_id: str) -> Path:
    """Folder of a repository in the hub cache (``models--org--name``)."""
    return hf_cache_dir() / ("models--" + repo_id.replace("/", "--"))


def find_hf_file(repo_id: str, filenames: Sequence[str], revision: str | None = None) -> Path | None:
    """First of ``filenames`` present in the local hub cache for ``repo_id`` (no network), or None."""
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        found = try_to_load_from_cache(
            repo_id, filename, cache_dir=str(hf_cache_dir()), revision=revision
        )
        if isinstance(found, str) and os.path.isfile(found):
            return Path(found)
    return None


def missing_hf_weights(
    what: str, repo_id: str, filenames: Sequence[str], *, also: str = ""
) -> WeightsUnavailableError:
    """The error for pretrained weights missing from the Hugging Face cache.

    ``filenames`` are alternatives (one of them is needed); ``also`` names a further required file.
    """
    folder = hf_repo_folder(repo_id)
    needed = " or ".join(filenames) + (f", and {also}" if also else "")
    return WeightsUnavailableError(
        f"Files for {what} are not on this machine and repalign does not download. "
        f"Needed: {needed} of the Hugging Face repository {repo_id!r}, in the hub "
        f"cache folder {folder}/snapshots/<revision>/ (cache root {hf_cache_dir()}, set by HF_HOME "
        f"or HF_HUB_CACHE). On a machine with network run `huggingface-cli download {repo_id}` "
        "and copy that cache folder here, or use pretrained=False for random initialisation."
    )


def missing_torch_weights(what: str, url: str) -> WeightsUnavailableError:
    """The error for pretrained weights missing from torch's checkpoint folder."""
    target = torch_checkpoint_dir() / os.path.basename(url.split("?")[0])
    return WeightsUnavailableError(
        f"Pretrained weights for {what} are not on this machine and repalign does not download. "
        f"Put the file {target.name} (from {url}) at {target} (folder set by TORCH_HOME), or use "
        "pretrained=False for random initialisation."
    )


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Inside the block the Hugging Face libraries run in offline mode (no request is sent).

    Sets ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` and huggingface_hub's already-imported flag,
    and restores both afterwards.
    """
    saved = {k: os.environ.get(k) for k in _OFFLINE_VARS}
    constants: Any = None
    with contextlib.suppress(ImportError):
        import huggingface_hub.constants as constants
    old_flag = getattr(constants, "HF_HUB_OFFLINE", None)
    try:
        for k in _OFFLINE_VARS:
            os.environ[k] = "1"
        if constants is not None:
            constants.HF_HUB_OFFLINE = True
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if constants is not None:
            constants.HF_HUB_OFFLINE = old_flag
