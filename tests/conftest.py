"""Shared fixtures: small deterministic models and images; tests never download."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from repalign.models.model import Model, Preprocess

# one thread per process: tests are small, and pytest-xdist may run several processes
torch.set_num_threads(1)

# real human data lives beside the project at ../shared/data (override with REPALIGN_SHARED_DATA)
SHARED_DATA = Path(
    os.environ.get("REPALIGN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test (and every process it starts) caches under a temporary folder, never in the
    user's ``~/.cache/repalign`` (tests that need their own cache set ``REPALIGN_CACHE`` again)."""
    folder = tmp_path_factory.mktemp("repalign_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REPALIGN_CACHE", str(folder))
        yield folder


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def shared_data() -> Path:
    """The folder of real human data used by tests; skips when it is absent (a user's machine)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


def make_tiny_cnn(channels: int = 3, size: int = 16, classes: int = 5, seed: int = 0) -> Model:
    """A random-initialised small CNN wrapped as a Model (for tests that need any network)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(64, classes),
    )
    model = Model(
        net,
        Preprocess([0.5] * channels, [0.25] * channels),
        spec=f"test:tiny_cnn_s{seed}",
        input_size=(channels, size, size),
        meta={"source": "test", "seed": seed},
    )
    return model.eval()


@pytest.fixture
def tiny_cnn() -> Model:
    return make_tiny_cnn()


@pytest.fixture
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(6, 3, 16, 16, generator=g)


@pytest.fixture
def one_torch_thread():
    """Run a test on one intra-op thread (tiny tensor work is fastest so on a busy machine);
    folders whose tests all want it request it from an autouse fixture in their conftest."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test (proves that nothing tries to download)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def run_until_then_kill(script: str, args: Sequence[str], ready: Callable[[], bool], what: str,
                        timeout: float = 120.0, poll: float = 0.005) -> None:
    """Run ``python -c script *args`` (one OpenMP thread) and SIGKILL it as soon as ``ready()``.

    Raises AssertionError when the process ends by itself first (with the end of its stderr), when
    ``what`` (the awaited event, for the message) has not happened within ``timeout`` seconds, or
    when the process did not die of the SIGKILL.
    """
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                raise AssertionError(f"ended before {what}: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not happen within {timeout} s")
            time.sleep(poll)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def kill_when() -> Callable[..., None]:
    """:func:`run_until_then_kill`: run a Python script in a subprocess, SIGKILL it at a moment
    the test chooses (tests of killed and resumed runs)."""
    return run_until_then_kill


TINY_DREAMSIM = ("clip_vitb32", "open_clip_vitb32")


@pytest.fixture
def tiny_dreamsim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DreamSim weights folder written by the test: the package's clip_vitb32 and
    open_clip_vitb32 variants with a 2-block, 32-wide ViT in place of ViT-B/32 (the package's
    loaders are patched to build that size), random trunk weights, a projection to 16 dimensions
    and random (non-zero) LoRA adapters saved with peft. ``REPALIGN_DREAMSIM_DIR`` points at it."""
    pytest.importorskip("dreamsim")
    from dreamsim.config import dreamsim_args
    from dreamsim.feature_extraction import load_clip_as_dino, load_open_clip_as_dino
    from dreamsim.feature_extraction.vision_transformer import VisionTransformer
    from dreamsim.model import PerceptualModel
    from peft import LoraConfig, get_peft_model

    def tiny_vit(patch_size: int = 32, **kwargs: object) -> VisionTransformer:
        return VisionTransformer(patch_size=patch_size, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2,
                                 qkv_bias=True, **kwargs)

    for module in (load_clip_as_dino, load_open_clip_as_dino):
        monkeypatch.setattr(module, "vit_base", tiny_vit)
    # the package's own loader (called by reference computations) sets torch hub's folder
    monkeypatch.setattr(torch.hub, "_hub_dir", torch.hub._hub_dir)
    folder = tmp_path / "dreamsim"
    folder.mkdir()
    for i, variant in enumerate(TINY_DREAMSIM):
        torch.manual_seed(10 + i)
        vit = tiny_vit()
        vit.pos_drop = nn.LayerNorm(32)
        state = {**vit.state_dict(), "proj": torch.randn(32, 16)}
        torch.save({"state_dict": state}, folder / f"{variant}_pretrain.pth.tar")
        model = PerceptualModel(**dreamsim_args["model_config"][variant], device="cpu", load_dir=str(folder),
                                normalize_embeds=True)
        lora = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, lora_dropout=0.0, bias="none",
                                                target_modules=["qkv"]))
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                nn.init.normal_(p, std=0.5)
        lora.save_pretrained(str(folder / f"{variant}_single_lora"))
    monkeypatch.setenv("REPALIGN_DREAMSIM_DIR", str(folder))
    return folder
