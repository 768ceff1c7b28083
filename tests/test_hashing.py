"""File digests remembered by file identity: equal to hashlib's, reused, renewed on change."""

import hashlib
import os
import time

import pytest

from repalign import _hashing
from repalign._hashing import file_identity, file_sha256


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = _hashing.hash_file

    def spy(path, *a, **k):
        calls.append(str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(_hashing, "hash_file", spy)
    return calls


def _settled(path, seconds_ago=10.0):
    t = time.time() - seconds_ago
    os.utime(path, (t, t))


def test_file_sha256_is_remembered_until_the_file_changes(tmp_path, counted):
    f = tmp_path / "w.bin"
    f.write_bytes(b"abc" * 1000)
    _settled(f)
    cache = tmp_path / "cache"
    want = hashlib.sha256(b"abc" * 1000).hexdigest()
    assert file_sha256(f, cache) == want and len(counted) == 1
    assert file_sha256(f, cache) == want and len(counted) == 1  # read from the digest entry
    f.write_bytes(b"abd" * 1000)  # same size, new content and modification time
    _settled(f, 5.0)
    assert file_sha256(f, cache) == hashlib.sha256(b"abd" * 1000).hexdigest()
    assert len(counted) == 2
    assert file_identity(f)["size"] == 3000


def test_a_freshly_written_file_is_not_remembered(tmp_path, counted):
    f = tmp_path / "w.bin"
    f.write_bytes(b"x" * 10)
    cache = tmp_path / "cache"
    for _ in range(2):
        assert file_sha256(f, cache) == hashlib.sha256(b"x" * 10).hexdigest()
    assert len(counted) == 2  # modified just now: hashed again every time
    assert not (cache / "digests").exists()


def test_unwritable_cache_still_hashes(tmp_path, counted):
    f = tmp_path / "w.bin"
    f.write_bytes(b"y" * 10)
    _settled(f)
    blocker = tmp_path / "file_not_folder"
    blocker.write_text("")
    assert file_sha256(f, blocker) == hashlib.sha256(b"y" * 10).hexdigest()
    assert file_sha256(f, blocker) == hashlib.sha256(b"y" * 10).hexdigest()
    assert len(counted) == 2


def test_a_corrupt_entry_is_hashed_again(tmp_path, counted):
    f = tmp_path / "w.bin"
    f.write_bytes(b"z" * 10)
    _settled(f)
    cache = tmp_path / "cache"
    file_sha256(f, cache)
    (entry,) = [p for p in (cache / "digests").rglob("*") if p.is_file()]
    entry.write_text("not a digest")
    assert file_sha256(f, cache) == hashlib.sha256(b"z" * 10).hexdigest()
    assert len(counted) == 2
