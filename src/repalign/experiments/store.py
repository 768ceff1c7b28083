"""The experiment database: one SQLite file in WAL mode that holds everything.

Tables: ``meta`` (configuration, design digest, admin token), ``stimuli`` (each image's name,
description and PNG), ``planned_trials`` (spec and how many participants were given it),
``participants`` (external id, study and session ids, status), ``assignments`` (each
participant's trials as shown), ``responses`` (unique by ``response_id`` and by participant and
trial) and ``flags`` (exclusion rules a participant broke). Every write is one transaction,
committed (``synchronous=FULL``) before the server answers; nothing is ever deleted.

Example:
    >>> import tempfile, pathlib
    >>> db = Store(pathlib.Path(tempfile.mkdtemp()) / "exp.sqlite")
    >>> db.get_meta("design_digest") is None
    True
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from repalign.errors import DataFormatError

__all__ = ["SCHEMA", "Store", "connect"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stimuli (name TEXT PRIMARY KEY, meta TEXT NOT NULL, png BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS planned_trials (
    id INTEGER PRIMARY KEY, spec TEXT NOT NULL, n_assigned INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS participants (
    id INTEGER PRIMARY KEY, external_id TEXT NOT NULL UNIQUE, study_id TEXT NOT NULL,
    session_id TEXT NOT NULL, status TEXT NOT NULL, n_trials INTEGER NOT NULL,
    created_at REAL NOT NULL, finished_at REAL);
CREATE TABLE IF NOT EXISTS assignments (
    participant INTEGER NOT NULL REFERENCES participants(id), trial_index INTEGER NOT NULL,
    kind TEXT NOT NULL, planned_id INTEGER REFERENCES planned_trials(id), spec TEXT NOT NULL,
    PRIMARY KEY (participant, trial_index));
CREATE TABLE IF NOT EXISTS responses (
    id INTEGER PRIMARY KEY, response_id TEXT NOT NULL UNIQUE,
    participant INTEGER NOT NULL REFERENCES participants(id), trial_index INTEGER NOT NULL,
    response TEXT NOT NULL, answer TEXT NOT NULL, onscreen_order TEXT NOT NULL,
    rt_ms REAL NOT NULL, client_sent_at REAL, received_at REAL NOT NULL,
    UNIQUE (participant, trial_index));
CREATE TABLE IF NOT EXISTS flags (
    participant INTEGER NOT NULL REFERENCES participants(id), rule TEXT NOT NULL,
    detail TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (participant, rule));
"""


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, full sync.

    Raises:
        DataFormatError: the file is not an SQLite database or (read-only) does not exist.
    """
    p = Path(path)
    try:
        if readonly:
            if not p.is_file():
                raise DataFormatError(f"{p}: no such experiment database.")
            conn = sqlite3.connect(f"file:{p.resolve()}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(SCHEMA)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise DataFormatError(f"{p}: not an experiment database ({exc}).") from exc
    return conn


class Store:
    """A database connection shared by the server's worker threads (one writer at a time).

    Args:
        path: the SQLite file (created with its tables when missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.conn = connect(self.path)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction, committed on success, rolled back on error."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query (under the lock, outside any write)."""
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def get_meta(self, key: str) -> Any:
        """A JSON value of the ``meta`` table, or None."""
        rows = self.read("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.conn.close()
