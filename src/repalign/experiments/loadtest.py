"""Crash tests of the experiment server: run it as a real process, SIGKILL it while simulated
participants answer, restart it, and check the database against what was acknowledged.

Example:
    >>> server = ServerProcess("exp.toml", "exp.sqlite").start()   # doctest: +SKIP
    >>> report = simulate_participants(server.url, 20)              # doctest: +SKIP
    >>> audit(server.db, report.acked)                              # doctest: +SKIP
    {'acked': 340, 'stored': 340, 'lost': 0, 'duplicated': 0, 'changed': 0}
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from repalign.experiments.store import connect

__all__ = ["ServerProcess", "audit", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``repalign experiment serve CONFIG --db DB --api-only`` on 127.0.0.1 as a child process.

    Args:
        config: experiment file.
        db: database file.
        port: port (default: a free one).
        log: file receiving the server's output (default: discarded).
    """

    def __init__(self, config: str | Path, db: str | Path, port: int | None = None,
                 log: str | Path | None = None) -> None:
        self.config, self.db = Path(config), Path(db)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(log) if log else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self, timeout: float = 120.0) -> ServerProcess:
        """Start the server and wait until it answers ``/healthz``."""
        import httpx

        out: Any = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "repalign", "experiment", "serve", str(self.config), "--db",
             str(self.db), "--port", str(self.port), "--api-only"],
            stdout=out, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the experiment server exited with {self.proc.returncode}; "
                                   f"see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"the experiment server did not answer within {timeout} s")

    def kill9(self) -> None:
        """SIGKILL the server (no cleanup of any kind) and wait for it to be gone."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self) -> None:
        """Terminate the server gracefully."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the running server has used so far (Linux ``/proc``)."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stored(self) -> int:
        """Responses in the database now (read-only connection)."""
        conn = connect(self.db, readonly=True)
        try:
            return int(conn.execute("SELECT count(*) FROM responses").fetchone()[0])
        finally:
            conn.close()


def audit(db: str | Path, acked: list[dict[str, Any]]) -> dict[str, int]:
    """Compare the database with the acknowledged responses.

    Args:
        db: the experiment database.
        acked: the acknowledged response bodies (:attr:`SimulationReport.acked`).

    Returns:
        ``{"acked", "stored", "lost"`` (acknowledged, not stored), ``"duplicated"`` (a response
        id or a participant's trial stored twice), ``"changed"`` (stored with another answer)}.
    """
    conn = connect(db, readonly=True)
    try:
        stored = {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
            "SELECT r.response_id, p.external_id, r.trial_index, r.response FROM responses r "
            "JOIN participants p ON p.id = r.participant")}
        n_rows = conn.execute("SELECT count(*) FROM responses").fetchone()[0]
        n_trials = conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT participant, trial_index FROM responses)"
        ).fetchone()[0]
    finally:
        conn.close()
    lost = changed = 0
    for body in acked:
        row = stored.get(body["response_id"])
        if row is None:
            lost += 1
        elif row != (body["participant_id"], body["trial_index"],
                     json.dumps(body["response"], separators=(",", ":"), sort_keys=True)):
            changed += 1
    return {"acked": len(acked), "stored": int(n_rows), "lost": lost,
            "duplicated": int(n_rows - len(stored)) + int(n_rows - n_trials), "changed": changed}
