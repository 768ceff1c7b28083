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
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from repalign._sqlite import immediate_transaction
from repalign.errors import DataFormatError

__all__ = ["SCHEMA", "Store", "connect"]

T = TypeVar("T")

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
CREATE INDEX IF NOT EXISTS assignments_planned ON assignments (planned_id);
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
    """A database connection shared by the server's worker threads.

    Writes go through :meth:`write`: a writer thread takes every write waiting at that moment,
    runs each in its own savepoint (a write that raises leaves nothing behind), commits them
    together with one sync to disk (group commit), and only then returns each write's result
    to its caller. So each response is on disk before it is acknowledged, while concurrent
    participants share the cost of the sync.

    Args:
        path: the SQLite file (created with its tables when missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.conn = connect(self.path)
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Callable[[sqlite3.Connection], Any], Future[Any]] | None]
        self._queue = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="experiment-db-writer",
                                        daemon=True)
        self._writer.start()

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in a transaction; return its result once committed.

        Raises:
            Whatever ``fn`` raises (its changes are rolled back; other writes are unaffected).
        """
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return fut.result()

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < 512:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            done: list[tuple[Future[Any], Any, BaseException | None]] = []
            with self._lock:
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    for fn, fut in batch:
                        self.conn.execute("SAVEPOINT one_write")
                        try:
                            result = fn(self.conn)
                        except BaseException as exc:  # refused write: undo it alone
                            self.conn.execute("ROLLBACK TO one_write")
                            self.conn.execute("RELEASE one_write")
                            done.append((fut, None, exc))
                        else:
                            self.conn.execute("RELEASE one_write")
                            done.append((fut, result, None))
                    self.conn.execute("COMMIT")
                except BaseException as exc:  # the commit itself failed: nothing was stored
                    with contextlib.suppress(sqlite3.Error):
                        self.conn.execute("ROLLBACK")
                    done = [(fut, None, exc) for _, fut in batch]
            for fut, result, error in done:
                if error is not None:
                    fut.set_exception(error)
                else:
                    fut.set_result(result)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction, committed on success, rolled back on error."""
        with self._lock, immediate_transaction(self.conn) as conn:
            yield conn

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query (under the lock, outside any write)."""
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def get_meta(self, key: str) -> Any:
        """A JSON value of the ``meta`` table, or None."""
        rows = self.read("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def close(self) -> None:
        """Finish the waiting writes, stop the writer and close the connection."""
        self._queue.put(None)
        self._writer.join()
        with self._lock:
            self.conn.close()
