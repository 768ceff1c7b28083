"""Fixtures for the model-source tests: no network, empty library caches, fake hub caches."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None) -> Path:
    """TORCH_HOME, HF_HOME and HOME point at empty folders; returns the root."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def put_in_hf_cache(root: Path, repo_id: str, files: dict[str, bytes]) -> Path:
    """Lay out ``files`` as the Hugging Face hub cache does for ``repo_id``; returns the snapshot."""
    commit = "0" * 40
    repo = root / "hf" / "hub" / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (snap / name).write_bytes(data)
    return snap


@pytest.fixture
def hf_cache_writer():
    return put_in_hf_cache
