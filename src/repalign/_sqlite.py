"""SQLite helpers shared by the study and experiment stores."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

__all__ = ["immediate_transaction"]


@contextlib.contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """An immediate (write-locked) transaction on an autocommit connection
    (``isolation_level=None``): committed when the block ends, rolled back when it raises.

    Example:
        >>> conn = sqlite3.connect(":memory:", isolation_level=None)
        >>> with immediate_transaction(conn) as db:
        ...     _ = db.execute("CREATE TABLE t (x)")
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
