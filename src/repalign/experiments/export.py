"""Export an experiment database to the project's own formats, streaming (flat memory).

Always written:

- ``responses.csv``: one row per stored response: participant (number and external id, study and
  session ids, status), trial index and kind, planned trial, the trial's images (``stimuli``,
  canonical order), ``positions`` and ``onscreen_order``, the response as sent and as
  interpreted (``answer``), reaction time, client and server timestamps, exclusion flags.
- ``participants.csv``: one row per participant with status, counts and flags;
  ``stimuli.csv``: every image's name, kind, index, source id and label.

Per paradigm (main trials only; catch trials stay in ``responses.csv``):

- odd_one_out: ``triplets.csv`` in the ``trials`` layout of :func:`repalign.data.load_triplets`
  (``index_base=0``, ``choice_base=1``: three stimulus indices as shown, the position of the odd
  one out, the participant number) and ``triplets_included.csv`` without flagged participants;
- two_afc: ``two_afc/`` in the BAPPS layout (``ref`` = metamer, ``p0`` = target, ``p1`` = seed,
  ``judge`` = share of people choosing the seed) that :func:`repalign.data.load_two_afc` reads,
  and ``two_afc_scores.csv`` with the columns of :func:`repalign.evaluation.two_afc`
  (``distance="human"``);
- matching: ``matching.csv`` (per response: accuracy) and ``matching_scores.csv`` with the
  columns of :func:`repalign.evaluation.clustering` (``distance="human"``);
- recognition: ``recognition.csv`` and ``recognition_scores.csv`` with the columns of
  :func:`repalign.evaluation.recognizability` (``observer="human"``);
- rating: ``ratings.csv`` and ``similarity.csv`` (mean rating per pair rescaled to [0, 1],
  diagonal 1; stimulus names in the header), readable by
  :func:`repalign.data.load_similarity_matrix` once every pair has a rating.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from repalign._progress import progress
from repalign.experiments.export_tables import CsvWriter, ExportContext, make_sink
from repalign.experiments.store import connect

__all__ = ["RAW_COLUMNS", "export_experiment", "raw_csv_chunks"]

log = logging.getLogger(__name__)

RAW_COLUMNS = ["participant", "participant_id", "study_id", "session_id", "status",
               "trial_index", "kind", "planned_trial", "repeat_of", "stimuli", "positions",
               "onscreen_order", "response", "answer", "rt_ms", "client_sent_at", "received_at",
               "response_id", "flags", "excluded"]

_QUERY = """
SELECT r.participant, p.external_id, p.study_id, p.session_id, p.status, r.trial_index,
       a.kind, a.planned_id, a.spec, r.onscreen_order, r.response, r.answer, r.rt_ms,
       r.client_sent_at, r.received_at, r.response_id
FROM responses r
JOIN participants p ON p.id = r.participant
JOIN assignments a ON a.participant = r.participant AND a.trial_index = r.trial_index
ORDER BY r.id
"""


def _flags(conn: sqlite3.Connection) -> dict[int, str]:
    out: dict[int, list[str]] = {}
    for pid, rule in conn.execute("SELECT participant, rule FROM flags ORDER BY participant, rule"):
        out.setdefault(int(pid), []).append(str(rule))
    return {k: ";".join(v) for k, v in out.items()}


def _rows(conn: sqlite3.Connection, flags: dict[int, str]) -> Iterator[dict[str, Any]]:
    cur = conn.execute(_QUERY)
    while True:
        chunk = cur.fetchmany(2000)
        if not chunk:
            return
        for (pid, ext, study, sess, status, ti, kind, planned, spec, onscreen, resp, answer,
             rt, sent, received, rid) in chunk:
            t = json.loads(spec)
            f = flags.get(int(pid), "")
            yield {"participant": pid, "participant_id": ext, "study_id": study,
                   "session_id": sess, "status": status, "trial_index": ti, "kind": kind,
                   "planned_trial": planned, "repeat_of": t.get("repeat_of"),
                   "stimuli": json.dumps(t["stimuli"]), "positions": json.dumps(t["positions"]),
                   "onscreen_order": onscreen, "response": resp, "answer": answer,
                   "rt_ms": rt, "client_sent_at": sent, "received_at": received,
                   "response_id": rid, "flags": f,
                   "excluded": int(bool(f) or status == "failed"),
                   "_trial": t, "_answer": json.loads(answer), "_onscreen": json.loads(onscreen)}


def raw_csv_chunks(db: str | Path) -> Iterator[bytes]:
    """The raw per-response table as CSV, in chunks of about 64 KiB (for streaming)."""
    conn = connect(db, readonly=True)
    try:
        buf = io.StringIO()
        w = csv.DictWriter(buf, RAW_COLUMNS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for row in _rows(conn, _flags(conn)):
            w.writerow(row)
            if buf.tell() > 65536:
                yield buf.getvalue().encode("utf-8")
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue().encode("utf-8")
    finally:
        conn.close()


def export_experiment(db: str | Path, out: str | Path, *, quiet: bool = False) -> dict[str, Any]:
    """Write the database ``db``'s responses into the folder ``out`` (see the module doc).

    Args:
        db: an experiment database (``repalign experiment serve --db``).
        out: output folder (created).
        quiet: no progress bar.

    Returns:
        ``{"responses": n, "participants": n, "files": [paths], "paradigm": ...}``.

    Raises:
        DataFormatError: ``db`` is not an experiment database.

    Example:
        >>> export_experiment("exp.sqlite", "export/")  # doctest: +SKIP
        >>> load_triplets("export/triplets.csv", index_base=0)  # doctest: +SKIP
    """
    from repalign.errors import DataFormatError

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    conn = connect(db, readonly=True)
    try:
        try:
            meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        except sqlite3.DatabaseError as exc:
            raise DataFormatError(f"{db}: not an experiment database ({exc}).") from exc
        if "paradigm" not in meta:
            raise DataFormatError(f"{db}: not an experiment database (no experiment in it).")
        paradigm = meta["paradigm"]
        stimuli = {m["name"]: m for m in (json.loads(s) for (s,) in conn.execute(
            "SELECT meta FROM stimuli ORDER BY rowid"))}
        w = CsvWriter(out / "stimuli.csv", ["name", "kind", "index", "source_id", "label"])
        for m in stimuli.values():
            w.row([m["name"], m["kind"], m["index"], m["source_id"], m["label"]])
        files = [w.close()]
        flags = _flags(conn)
        people = conn.execute(
            "SELECT p.id, p.external_id, p.study_id, p.session_id, p.status, p.n_trials, "
            "p.created_at, p.finished_at, (SELECT count(*) FROM responses r WHERE "
            "r.participant = p.id) FROM participants p ORDER BY p.id").fetchall()
        w = CsvWriter(out / "participants.csv", ["participant", "participant_id", "study_id",
                                                 "session_id", "status", "n_trials",
                                                 "created_at", "finished_at", "n_responses",
                                                 "flags", "excluded"])
        for person in people:
            f = flags.get(int(person[0]), "")
            w.row([*person, f, int(bool(f) or person[4] == "failed")])
        files.append(w.close())
        n_resp = conn.execute("SELECT count(*) FROM responses").fetchone()[0]
        raw = CsvWriter(out / "responses.csv", RAW_COLUMNS)
        sink = make_sink(paradigm, ExportContext(out, conn, stimuli, meta["config"],
                                                 list(meta.get("label_names") or [])))
        bar = progress(total=n_resp, quiet=quiet, desc="export", unit="response")
        for row in _rows(conn, flags):
            raw.row([row[c] for c in RAW_COLUMNS])
            bar.update(1)
            if row["kind"] == "main":  # catch trials stay in responses.csv only
                sink.add(row)
        bar.close()
        files += [raw.close(), *sink.close()]
    finally:
        conn.close()
    log.info("exported %d responses of %d participants to %s", n_resp, len(people), out)
    return {"paradigm": paradigm, "responses": n_resp, "participants": len(people),
            "files": [str(f) for f in files]}
