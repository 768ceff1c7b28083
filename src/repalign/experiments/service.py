"""The experiment's logic behind the HTTP endpoints: sessions, responses, finishing, progress.

:class:`Experiment` joins a configuration and its database. Every call is one transaction on the
database, so the server keeps no state of its own: a restarted server carries on where the
killed one stopped, and several calls for one participant (a reload, a re-sent response) give
the same result.

Example:
    >>> exp = Experiment.open({"paradigm": "odd_one_out", "design": {"trials_per_participant": 3},
    ...                        "stimuli": {"source": "bundled:digits", "limit": 9}},
    ...                       tempfile.mkdtemp() + "/exp.sqlite")  # doctest: +SKIP
    >>> exp.session("P1", "S", "X")["status"]  # doctest: +SKIP
    'active'
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np

from repalign.errors import ConfigError
from repalign.experiments.config import ExperimentConfig, load_experiment
from repalign.experiments.plan import plan_trials
from repalign.experiments.pool import Pool, PoolItem, build_pool
from repalign.experiments.session import (
    ResponseError,
    build_session,
    catch_passed,
    exclusion_flags,
    interpret,
)
from repalign.experiments.store import Store

__all__ = ["ApiError", "Experiment"]

log = logging.getLogger(__name__)

#: each planned trial with how many participants have it: answered, or waiting in the session of
#: someone still active (last seen, started or answered, after the cutoff ``?``)
_SEEN_SQL = """
SELECT t.id, t.spec, (
    SELECT count(*) FROM assignments a JOIN participants p ON p.id = a.participant
    WHERE a.planned_id = t.id AND a.kind = 'main' AND (
        EXISTS (SELECT 1 FROM responses r
                WHERE r.participant = a.participant AND r.trial_index = a.trial_index)
        OR (p.status = 'active' AND max(p.created_at, coalesce(
            (SELECT max(r.received_at) FROM responses r WHERE r.participant = p.id), 0)) >= ?)))
FROM planned_trials t ORDER BY t.id
"""


class ApiError(Exception):
    """A request the experiment refuses: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _initialize(store: Store, cfg: ExperimentConfig) -> None:
    pool = build_pool(cfg)
    planned = [] if cfg.design.adaptive else plan_trials(cfg, pool)  # adaptive: per session
    with store.transaction() as conn:
        conn.executemany("INSERT INTO stimuli (name, meta, png) VALUES (?, ?, ?)",
                         [(it.name, _dumps(it.meta()), it.png) for it in pool.items])
        conn.executemany("INSERT INTO planned_trials (id, spec) VALUES (?, ?)",
                         [(i, _dumps(t)) for i, t in enumerate(planned)])
        meta = {"design_digest": cfg.design_digest(), "label_names": pool.label_names,
                "config": cfg.model_dump(mode="json"), "created_at": time.time(),
                "paradigm": cfg.paradigm}
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                         [(k, _dumps(v)) for k, v in meta.items()])
    log.info("created experiment %s: %d images, %d planned trials", store.path,
             len(pool.items), len(planned))


def load_pool(store: Store) -> Pool:
    """The images stored in an experiment database."""
    items = []
    for meta, png in store.read("SELECT meta, png FROM stimuli ORDER BY rowid"):
        m = json.loads(meta)
        items.append(PoolItem(m["name"], m["kind"], m["index"], m["source_id"], m["label"],
                              bytes(png), m["recipe"], m["target"]))
    return Pool(items, list(store.get_meta("label_names") or []))


class Experiment:
    """A running experiment: its configuration, images and database.

    Attributes:
        cfg: the configuration (texts, codes and exclusion rules as given now).
        store: the database.
        pool: the images.
        token: the admin token.
        token_generated: the token was made here (print it for the experimenter).
    """

    def __init__(self, cfg: ExperimentConfig, store: Store) -> None:
        self.cfg = cfg
        self.store = store
        if store.get_meta("design_digest") is None:
            _initialize(store, cfg)
        elif store.get_meta("design_digest") != cfg.design_digest():
            raise ConfigError(
                f"{store.path} was created for another experiment design (paradigm, stimuli, "
                "design, catch trials or paradigm options differ); texts, codes and exclusion "
                "rules may change, the design may not. Use a new --db file for a new design."
            )
        self.pool = load_pool(store)
        self.images = {it.name: it.png for it in self.pool.items}
        self.adaptive = None
        if cfg.design.adaptive:  # imported here: only adaptive experiments need torch
            from repalign.experiments.adaptive import AdaptivePlanner

            self.adaptive = AdaptivePlanner(
                store, [it.name for it in self.pool.by_kind("stimulus")], seed=cfg.seed)
            self.adaptive.refit_soon()  # a restarted server refits on the stored answers
        self.token_generated = False
        token = cfg.admin_token or os.environ.get("REPALIGN_ADMIN_TOKEN") or None
        if token is None:
            token = store.get_meta("admin_token")
        if token is None:
            token = secrets.token_urlsafe(24)
            with store.transaction() as conn:
                conn.execute("INSERT INTO meta (key, value) VALUES ('admin_token', ?)",
                             (_dumps(token),))
            self.token_generated = True
        self.token: str = token

    @classmethod
    def open(cls, config: Any, db: str | Path) -> Experiment:
        """Open (or create) the database ``db`` for the experiment ``config`` (a path, mapping
        or :class:`ExperimentConfig`)."""
        return cls(load_experiment(config), Store(db))

    # -- participants -----------------------------------------------------------------------
    def _public_trial(self, t: dict[str, Any]) -> dict[str, Any]:
        out = {"trial_index": t["trial_index"], "kind": t["kind"], "paradigm": self.cfg.paradigm,
               "stimuli": [{"id": n, "url": f"/stimuli/{n}.png"} for n in t["stimuli"]],
               "positions": t["positions"]}
        if self.cfg.paradigm == "matching":
            out["choices"] = list(t["choices"])
        elif self.cfg.paradigm == "recognition":
            out["choices"] = list(self.pool.label_names)
            out["choice_order"] = t["choice_order"]
        elif self.cfg.paradigm == "rating":
            r = self.cfg.rating
            out["choices"] = {"min": r.min, "max": r.max, "step": 1, "labels": r.labels}
        return out

    def _ending(self, status: str) -> dict[str, Any]:
        c = self.cfg.completion
        out: dict[str, Any]
        if status == "completed":
            out = {"status": status, "completion_code": c.code, "redirect_url": c.redirect_url}
        else:
            out = {"status": status, "failure_code": c.failure_code,
                   "failure_redirect_url": c.failure_redirect_url}
        if c.redirect_url if status == "completed" else c.failure_redirect_url:
            out["redirect_after_ms"] = c.redirect_after_ms
        return out

    @staticmethod
    def _next_trial(conn: Any, pid: int, n_trials: int) -> int:
        done = {r[0] for r in conn.execute(
            "SELECT trial_index FROM responses WHERE participant = ?", (pid,))}
        return next((i for i in range(n_trials) if i not in done), n_trials)

    def _participant(self, conn: Any, external_id: str) -> tuple[Any, ...]:
        row = conn.execute("SELECT id, status, n_trials FROM participants WHERE external_id = ?",
                           (external_id,)).fetchone()
        if row is None:
            raise ApiError(404, "unknown participant_id; start the session first "
                                "(POST /api/session)")
        return tuple(row)

    def _assign(self, conn: Any, pid: int) -> None:
        k = self.cfg.design.trials_per_participant
        if self.adaptive is not None:  # fresh triplets from the latest fit (never waits for one)
            start = conn.execute("SELECT coalesce(max(id), -1) + 1 FROM planned_trials").fetchone()[0]
            chosen = [(start + i, _dumps(t), 0) for i, t in enumerate(self.adaptive.plan(k))]
            conn.executemany("INSERT INTO planned_trials (id, spec) VALUES (?, ?)",
                             [r[:2] for r in chosen])
        else:
            cutoff = time.time() - 60.0 * self.cfg.design.abandoned_after_minutes
            rows = conn.execute(_SEEN_SQL, (cutoff,)).fetchall()
            rng = np.random.default_rng([self.cfg.seed, pid, 3])
            order = rng.permutation(len(rows))
            least = sorted(order, key=lambda i: rows[int(i)][2])  # stable: random among ties
            chosen = [rows[int(i)] for i in least[:k]]
        conn.executemany("UPDATE planned_trials SET n_assigned = n_assigned + 1 WHERE id = ?",
                         [(r[0],) for r in chosen])
        trials = build_session(self.cfg, self.pool, [(r[0], json.loads(r[1])) for r in chosen], pid)
        conn.executemany(
            "INSERT INTO assignments (participant, trial_index, kind, planned_id, spec) "
            "VALUES (?, ?, ?, ?, ?)",
            [(pid, t["trial_index"], t["kind"], t["planned_id"], _dumps(t)) for t in trials])
        conn.execute("UPDATE participants SET n_trials = ? WHERE id = ?", (len(trials), pid))

    def session(self, external_id: str, study_id: str, session_id: str) -> dict[str, Any]:
        """Start or continue a participant's session: their trials and the first unanswered one.

        A finished participant gets their ending (code) again, never a new session.
        """
        def work(conn: Any) -> tuple[str, list[dict[str, Any]], int]:
            row = conn.execute("SELECT id, status FROM participants WHERE external_id = ?",
                               (external_id,)).fetchone()
            if row is None:
                cap = self.cfg.max_participants
                if cap is not None and conn.execute(
                        "SELECT count(*) FROM participants").fetchone()[0] >= cap:
                    raise ApiError(409, "this study has all the participants it needs")
                cur = conn.execute(
                    "INSERT INTO participants (external_id, study_id, session_id, status, "
                    "n_trials, created_at) VALUES (?, ?, ?, 'active', 0, ?)",
                    (external_id, study_id, session_id, time.time()))
                pid = int(cur.lastrowid or 0)
                self._assign(conn, pid)
                status = "active"
            else:
                pid, status = int(row[0]), str(row[1])
            specs = [json.loads(s) for (s,) in conn.execute(
                "SELECT spec FROM assignments WHERE participant = ? ORDER BY trial_index", (pid,))]
            return status, specs, self._next_trial(conn, pid, len(specs))

        status, specs, nxt = self.store.write(work)
        out: dict[str, Any] = {"participant_id": external_id, "status": status,
                               "paradigm": self.cfg.paradigm,
                               "texts": self.cfg.texts.model_dump(), "next_trial": nxt,
                               "n_trials": len(specs)}
        if status == "active":
            out["trials"] = [self._public_trial(t) for t in specs]
        else:
            out["trials"] = []
            out["completion"] = self._ending(status)
        return out

    def respond(self, external_id: str, trial_index: int, response_id: str,
                response: dict[str, Any], rt_ms: float, onscreen_order: list[str],
                client_sent_at: float | None) -> dict[str, Any]:
        """Store one response (idempotent by ``response_id``); returns the acknowledgement."""
        def work(conn: Any) -> dict[str, Any]:
            pid, status, n_trials = self._participant(conn, external_id)
            dup = conn.execute("SELECT participant, trial_index FROM responses "
                               "WHERE response_id = ?", (response_id,)).fetchone()
            if dup is not None:
                if tuple(dup) != (pid, trial_index):
                    raise ApiError(409, "response_id was already used for another trial")
                return {"ack": True, "duplicate": True,
                        "next_trial": self._next_trial(conn, pid, n_trials)}
            if status != "active":
                raise ApiError(409, f"this session is {status}; no more responses are taken")
            row = conn.execute("SELECT spec FROM assignments WHERE participant = ? AND "
                               "trial_index = ?", (pid, trial_index)).fetchone()
            if row is None:
                raise ApiError(422, f"trial_index must be in [0, {n_trials - 1}], received "
                                    f"{trial_index}")
            if conn.execute("SELECT 1 FROM responses WHERE participant = ? AND trial_index = ?",
                            (pid, trial_index)).fetchone():
                raise ApiError(409, f"trial {trial_index} was already answered (with another "
                                    "response_id)")
            try:
                answer = interpret(self.cfg, json.loads(row[0]), response, onscreen_order)
            except ResponseError as exc:
                raise ApiError(422, str(exc)) from None
            conn.execute(
                "INSERT INTO responses (response_id, participant, trial_index, response, answer, "
                "onscreen_order, rt_ms, client_sent_at, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (response_id, pid, trial_index, _dumps(response), _dumps(answer),
                 _dumps(onscreen_order), rt_ms, client_sent_at, time.time()))
            return {"ack": True, "duplicate": False,
                    "next_trial": self._next_trial(conn, pid, n_trials)}

        return self.store.write(work)

    def _flags(self, conn: Any, pid: int) -> dict[str, str]:
        rows = conn.execute(
            "SELECT a.spec, r.answer, r.rt_ms FROM assignments a JOIN responses r ON "
            "r.participant = a.participant AND r.trial_index = a.trial_index "
            "WHERE a.participant = ? ORDER BY a.trial_index", (pid,)).fetchall()
        answers = {}
        rts, known, repeats = [], [], []
        for spec, answer, rt in rows:
            t, a = json.loads(spec), json.loads(answer)
            answers[t["trial_index"]] = a
            rts.append(float(rt))
            if t["kind"] == "catch_known":
                known.append(catch_passed(self.cfg, t, a))
            elif t["kind"] == "catch_repeat":
                repeats.append(catch_passed(self.cfg, t, a, answers.get(t["repeat_of"])))
        return exclusion_flags(self.cfg, rts, known, repeats)

    def finish(self, external_id: str) -> dict[str, Any]:
        """End a session once every trial is answered: flag broken exclusion rules, and give
        the completion code, or the failure code when the attention checks failed."""
        def work(conn: Any) -> str:
            pid, status, n_trials = self._participant(conn, external_id)
            if status == "active":
                left = n_trials - conn.execute("SELECT count(*) FROM responses WHERE "
                                               "participant = ?", (pid,)).fetchone()[0]
                if left:
                    raise ApiError(409, f"{left} trial(s) still unanswered; answer them first")
                now = time.time()
                flags = self._flags(conn, pid)
                conn.executemany("INSERT OR IGNORE INTO flags (participant, rule, detail, "
                                 "created_at) VALUES (?, ?, ?, ?)",
                                 [(pid, k, v, now) for k, v in flags.items()])
                status = "failed" if "failed_catch" in flags else "completed"
                conn.execute("UPDATE participants SET status = ?, finished_at = ? WHERE id = ?",
                             (status, now, pid))
            return str(status)

        ending = self._ending(self.store.write(work))
        if self.adaptive is not None:  # between sessions: refit in the background
            self.adaptive.refit_soon()
        return ending

    # -- experimenter -------------------------------------------------------------------------
    def progress(self) -> dict[str, Any]:
        """Progress for the admin view: per participant, per planned trial, and over time."""
        people = self.store.read(
            "SELECT p.id, p.external_id, p.status, p.n_trials, p.created_at, p.finished_at, "
            "(SELECT count(*) FROM responses r WHERE r.participant = p.id), "
            "(SELECT group_concat(rule || ': ' || detail, '; ') FROM flags f "
            " WHERE f.participant = p.id) FROM participants p ORDER BY p.id")
        per_item = self.store.read(
            "SELECT t.id, t.n_assigned, count(r.id) FROM planned_trials t "
            "LEFT JOIN assignments a ON a.planned_id = t.id AND a.kind = 'main' "
            "LEFT JOIN responses r ON r.participant = a.participant AND "
            "r.trial_index = a.trial_index GROUP BY t.id ORDER BY t.id")
        cutoff = time.time() - 60.0 * self.cfg.design.abandoned_after_minutes
        held = {r[0]: r[2] for r in self.store.read(_SEEN_SQL, (cutoff,))}
        times = [r[0] for r in self.store.read("SELECT received_at FROM responses ORDER BY id")]
        d = self.cfg.design
        return {
            "participants": [
                {"id": r[0], "external_id": r[1], "status": r[2], "n_trials": r[3],
                 "created_at": r[4], "finished_at": r[5], "n_responses": r[6], "flags": r[7] or ""}
                for r in people],
            "planned": [{"id": r[0], "assigned": r[1], "responses": r[2], "held": held[r[0]]}
                        for r in per_item],
            "response_times": times,
            "target_per_trial": d.participants_per_trial,
        }
