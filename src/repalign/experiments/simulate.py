"""Simulated participants over HTTP, for pilots, tests and load tests.

Each simulated participant does what the page does: starts (or resumes) a session, answers every
remaining trial, re-sends a response with the same ``response_id`` until it is acknowledged
(network errors and 5xx are retried, a 4xx is a refusal), then finishes. Odd-one-out answers
come from repalign's simulated observer (:func:`repalign.alignment.simulate.pair_probabilities`:
a softmax over the dot products of a hidden embedding, one row per stimulus); ratings from the
embedding's cosine similarity; other paradigms, and odd-one-out without an embedding, answer at
random.

Only loopback URLs (127.0.0.1, localhost, ::1) are allowed unless ``allow_remote=True``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import numpy as np

from repalign._deps import require
from repalign.errors import ConfigError

__all__ = ["SimulationReport", "answer_trial", "simulate_participants"]

log = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class SimulationReport:
    """What the simulated participants sent and got back.

    Attributes:
        acked: every acknowledged response (the POSTed body plus ``duplicate``).
        latencies_ms: duration of each acknowledged POST /api/response (the last attempt), as
            the client saw it.
        server_ms: the server's own share of each (``Server-Timing``: body read to commit).
        retries: requests repeated after a network error or a 5xx.
        endings: participant id -> the /api/finish answer.
        refused: 4xx answers (status, message) that were not expected.
        wall_s: seconds from the first to the last request.
    """

    acked: list[dict[str, Any]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    retries: int = 0
    endings: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: list[tuple[int, str]] = field(default_factory=list)
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Counts, ack latency percentiles and throughput."""
        lat = np.asarray(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        srv = np.asarray(self.server_ms) if self.server_ms else np.zeros(1)
        return {"participants": len(self.endings), "responses_acked": len(self.acked),
                "retries": self.retries, "refused": len(self.refused),
                "ack_p50_ms": float(np.percentile(lat, 50)),
                "ack_p99_ms": float(np.percentile(lat, 99)),
                "server_p50_ms": float(np.percentile(srv, 50)),
                "server_p99_ms": float(np.percentile(srv, 99)),
                "responses_per_s": len(self.acked) / self.wall_s if self.wall_s else 0.0,
                "wall_s": self.wall_s}


def answer_trial(trial: dict[str, Any], rng: np.random.Generator,
                 embedding: np.ndarray | None = None, temperature: float = 1.0) -> dict[str, Any]:
    """A response to one trial (as served by ``/api/session``).

    Stimulus names ``x00012`` index row 12 of ``embedding``.
    """
    paradigm = trial["paradigm"]
    ids = [s["id"] for s in trial["stimuli"]]
    if paradigm == "odd_one_out":
        if embedding is None:
            return {"choice": int(rng.integers(3))}
        from repalign.alignment.simulate import pair_probabilities

        p = pair_probabilities(embedding, [[int(i[1:]) for i in ids]], temperature)[0]
        pair = int(rng.choice(3, p=p))
        return {"choice": (2, 1, 0)[pair]}
    if paradigm == "two_afc":
        return {"choice": int(rng.integers(1, 3))}
    if paradigm == "recognition":
        return {"choice": int(rng.integers(len(trial["choices"])))}
    if paradigm == "rating":
        lo, hi = trial["choices"]["min"], trial["choices"]["max"]
        if embedding is None:
            return {"rating": int(rng.integers(lo, hi + 1))}
        a, b = (embedding[int(i[1:])] for i in ids)
        cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
        return {"rating": round(lo + (hi - lo) * (cos + 1) / 2, 3)}
    k = len(trial["choices"])
    n = len(ids) - k
    per = n // k
    return {"matches": [n + int(t) for t in rng.permutation(np.repeat(np.arange(k), per))]}


async def _post(client: Any, path: str, body: dict[str, Any], report: SimulationReport,
                deadline: float) -> tuple[int, dict[str, Any], float]:
    """POST until an answer that is not a network error or a 5xx (or the deadline)."""
    import httpx

    delay = 0.05
    while True:
        t0 = time.perf_counter()
        try:
            r = await client.post(path, json=body)
            if r.status_code < 500:
                timing = r.headers.get("server-timing", "")
                if timing.startswith("app;dur="):
                    report.server_ms.append(float(timing[8:]))
                return r.status_code, r.json(), (time.perf_counter() - t0) * 1000
        except (httpx.TransportError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer to POST {path} before the retry deadline")
        report.retries += 1
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def _participant(client: Any, pid: str, report: SimulationReport, rng: np.random.Generator,
                       embedding: np.ndarray | None, temperature: float, deadline: float) -> None:
    status, session, _ = await _post(client, "/api/session", {"participant_id": pid,
                                     "study_id": "SIM", "session_id": pid}, report, deadline)
    if status != 200:
        report.refused.append((status, str(session.get("error"))))
        return
    for trial in session["trials"]:
        if trial["trial_index"] < session["next_trial"]:
            continue
        body = {"participant_id": pid, "trial_index": trial["trial_index"],
                "response_id": f"{pid}-{trial['trial_index']}-{int(rng.integers(1 << 30))}",
                "response": answer_trial(trial, rng, embedding, temperature),
                "rt_ms": float(rng.uniform(600, 2500)),
                "onscreen_order": [trial["stimuli"][p]["id"] for p in trial["positions"]],
                "client_sent_at": time.time() * 1000}
        status, ack, ms = await _post(client, "/api/response", body, report, deadline)
        if status != 200 or not ack.get("ack"):
            report.refused.append((status, str(ack.get("error"))))
            return
        report.acked.append({**body, "duplicate": ack["duplicate"]})
        report.latencies_ms.append(ms)
    status, end, _ = await _post(client, "/api/finish", {"participant_id": pid}, report, deadline)
    if status != 200:
        report.refused.append((status, str(end.get("error"))))
    else:
        report.endings[pid] = end


async def simulate_async(url: str, participants: int | list[str], *,
                         embedding: np.ndarray | None = None, temperature: float = 1.0,
                         concurrency: int = 50, seed: int = 0, retry_for_s: float = 60.0,
                         allow_remote: bool = False, prefix: str = "sim") -> SimulationReport:
    """Coroutine of :func:`simulate_participants`."""
    httpx = require("httpx", "experiments", purpose="simulated participants")
    host = urlparse(url).hostname or ""
    if host not in _LOOPBACK and not allow_remote:
        raise ConfigError(f"simulated participants only target this machine (127.0.0.1, "
                          f"localhost), received {url!r}; pass allow_remote=True to override.")
    ids = ([f"{prefix}{i:05d}" for i in range(participants)] if isinstance(participants, int)
           else list(participants))
    if embedding is not None:  # import the observer before the clients start, not among them
        import repalign.alignment.simulate  # noqa: F401
    report = SimulationReport()
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=30.0, limits=limits) as client:
        async def one(k: int, pid: str) -> None:
            async with sem:
                deadline = time.monotonic() + retry_for_s
                await _participant(client, pid, report, np.random.default_rng([seed, k]),
                                   embedding, temperature, deadline)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(k, pid) for k, pid in enumerate(ids)))
        report.wall_s = time.perf_counter() - t0
    return report


def simulate_participants(url: str, participants: int | list[str], *,
                          embedding: Any = None, temperature: float = 1.0, concurrency: int = 50,
                          seed: int = 0, retry_for_s: float = 60.0, allow_remote: bool = False,
                          prefix: str = "sim") -> SimulationReport:
    """Run simulated participants against a running experiment server.

    Args:
        url: the server, e.g. ``http://127.0.0.1:8000``.
        participants: how many (ids ``sim00000``, ...) or the participant ids.
        embedding: optional (N, K) observer embedding, one row per stimulus.
        temperature: the observer's softmax temperature.
        concurrency: participants running at once.
        seed: random seed of the answers.
        retry_for_s: how long one participant keeps retrying through network errors.
        allow_remote: allow URLs other than this machine.
        prefix: participant id prefix.

    Returns:
        :class:`SimulationReport`.

    Raises:
        ConfigError: a URL that is not on this machine.
    """
    emb = None if embedding is None else np.asarray(embedding, dtype=np.float64)
    if emb is not None and emb.ndim != 2:
        raise ConfigError(f"the observer embedding must be (N, K), received shape {emb.shape}.")
    return asyncio.run(simulate_async(url, participants, embedding=emb, temperature=temperature,
                                      concurrency=concurrency, seed=seed, retry_for_s=retry_for_s,
                                      allow_remote=allow_remote, prefix=prefix))
