"""Experiment server under load on 127.0.0.1, SIGKILL during a load, and export time.

1. Load: 200 simulated participants at once, 50 responses each (48 planned trials + 2 catch
   trials), against ``repalign experiment serve`` (uvicorn, one process) on 127.0.0.1. Reports
   lost and duplicated rows (both must be 0), p50/p99 acknowledgement latency and responses/s;
   the baseline run side by side is SQLite's own rate of one-row commits with a sync to disk
   (``synchronous=FULL``) on the same disk: the ratio shows what the group commit gains over
   one sync per response.
2. SIGKILL: 100 participants x 50 responses; the server is killed with SIGKILL at 5 points (10,
   25, 45, 65 and 85 % of the responses stored) and restarted; then 0 acknowledged responses may
   be missing and 0 duplicated.
3. Export: a database of 600 participants x 120 responses (filled directly in SQLite, not over
   HTTP) is exported by ``repalign experiment export`` in a child process; wall time and the
   child's peak memory, against the same export of 150 participants (flat memory: ratio ~1).

Prints one JSON line and writes ``benchmarks/results/experiments_load.json``.
Run: ``PYTHONPATH=src python benchmarks/experiments_load.py`` (about 5 minutes).
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from repalign.experiments import Experiment
from repalign.experiments.loadtest import ServerProcess, audit
from repalign.experiments.simulate import simulate_participants

OUT = Path(__file__).parent / "results" / "experiments_load.json"

CONFIG = """
paradigm = "odd_one_out"
admin_token = "benchmark-token-0123456789"
[stimuli]
source = "bundled:digits"
limit = 60
[design]
trials_per_participant = {tpp}
planned_trials = {planned}
participants_per_trial = {ppt}
[catch]
repeats = 1
known = 1
"""


def _config(folder: Path, tpp: int, planned: int, ppt: int) -> Path:
    path = folder / "experiment.toml"
    path.write_text(CONFIG.format(tpp=tpp, planned=planned, ppt=ppt))
    return path


def sqlite_commit_rate(folder: Path, n: int = 300) -> float:
    """One-row transactions per second with a sync to disk (the per-response cost without
    group commit)."""
    conn = sqlite3.connect(folder / "rate.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (a TEXT)")
    t0 = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?)", (f"row {i}",))
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - t0)
    conn.close()
    return rate


def load(folder: Path) -> dict:
    cfg = _config(folder, tpp=48, planned=600, ppt=16)
    db = folder / "load.sqlite"
    Experiment.open(cfg, db).store.close()
    server = ServerProcess(cfg, db, log=folder / "load.log").start()
    try:
        cpu0, client0 = server.cpu_seconds(), time.process_time()
        report = simulate_participants(server.url, 200, concurrency=200, retry_for_s=300)
        server_cpu, client_cpu = server.cpu_seconds() - cpu0, time.process_time() - client0
    finally:
        server.stop()
    check = audit(db, report.acked)
    n = max(1, len(report.acked))
    return {**report.summary(), "server_cpu_ms_per_response": 1000 * server_cpu / n,
            "client_cpu_ms_per_response": 1000 * client_cpu / n,
            "lost": check["lost"], "duplicated": check["duplicated"],
            "changed": check["changed"], "stored": check["stored"],
            "unexpected_refusals": report.refused[:5]}


def sigkill(folder: Path, participants: int = 100) -> dict:
    cfg = _config(folder, tpp=48, planned=300, ppt=16)
    db = folder / "kill.sqlite"
    Experiment.open(cfg, db).store.close()
    server = ServerProcess(cfg, db, log=folder / "kill.log").start()
    total = participants * 50
    result: dict = {}

    def run() -> None:
        result["report"] = simulate_participants(server.url, participants, concurrency=participants,
                                                 retry_for_s=600, prefix="kill")

    worker = threading.Thread(target=run)
    points = []
    try:
        worker.start()
        for share in (0.10, 0.25, 0.45, 0.65, 0.85):
            while server.stored() < share * total and worker.is_alive():
                time.sleep(0.005)
            before = server.stored()
            server.kill9()
            points.append({"target_share": share, "stored_at_kill": before})
            time.sleep(0.5)
            server.start()
        worker.join()
    finally:
        server.stop()
    report = result["report"]
    check = audit(db, report.acked)
    duplicates_acked = sum(1 for a in report.acked if a["duplicate"])
    return {"participants": participants, "responses_acked": len(report.acked),
            "kills": server.kills, "kill_points": points, "retries": report.retries,
            "acks_marked_duplicate": duplicates_acked, "finished": len(report.endings),
            "lost": check["lost"], "duplicated": check["duplicated"],
            "changed": check["changed"], "stored": check["stored"],
            "unexpected_refusals": report.refused[:5]}


def fill(folder: Path, participants: int, per: int, name: str) -> Path:
    """A database of ``participants`` x ``per`` odd-one-out responses, written directly."""
    cfg = _config(folder, tpp=per - 2, planned=600, ppt=participants * (per - 2) // 600)
    db = folder / f"{name}.sqlite"
    exp = Experiment.open(cfg, db)
    for p in range(participants):
        exp.session(f"P{p:05d}", "STUDY", f"S{p}")
    rng = random.Random(0)
    rows = []
    for pid, ti, spec in exp.store.read("SELECT participant, trial_index, spec FROM assignments"):
        t = json.loads(spec)
        shown = [t["stimuli"][i] for i in t["positions"]]
        choice = rng.randrange(3)
        rows.append((f"r{pid}-{ti}", pid, ti, json.dumps({"choice": choice}),
                     json.dumps({"odd": t["stimuli"][choice]}), json.dumps(shown),
                     rng.uniform(400, 3000), time.time() * 1000, time.time()))

    def insert(conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO responses (response_id, participant, trial_index, response, "
                         "answer, onscreen_order, rt_ms, client_sent_at, received_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    exp.store.write(insert)
    exp.store.close()
    return db


def export_child(db: Path, out: Path) -> dict:
    code = ("import json, time\n"
            "from repalign.experiments import export_experiment\n"
            "t = time.perf_counter()\n"
            f"s = export_experiment({str(db)!r}, {str(out)!r}, quiet=True)\n"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
            "print(json.dumps({'export_s': time.perf_counter() - t, 'responses': s['responses'], "
            "'peak_rss_mib': int(hwm.split()[1]) / 1024}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def export_time(folder: Path) -> dict:
    small = export_child(fill(folder, 150, 120, "small"), folder / "export_small")
    big = export_child(fill(folder, 600, 120, "big"), folder / "export_big")
    return {"participants": 600, "responses": big["responses"], "export_s": big["export_s"],
            "peak_rss_mib": big["peak_rss_mib"], "baseline_150_participants": small,
            "peak_rss_ratio_600_vs_150": big["peak_rss_mib"] / small["peak_rss_mib"],
            "reference": "JATOS users report about 30 s for this size"}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        load_start = os.getloadavg()
        rate = sqlite_commit_rate(folder)
        res_load = load(folder)
        res_kill = sigkill(folder)
        res_export = export_time(folder)
        wall = time.perf_counter() - t0
    out = {
        "benchmark": "experiments_load",
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "loadavg_end": os.getloadavg(),
                    "note": "2-core machine shared with other heavy jobs (see loadavg): "
                            "latencies and rates are pessimistic, and the simulated clients "
                            "(httpx, same machine) use several times the server's CPU per "
                            "response (client_cpu_ms_per_response); "
                            "CPU ms per response and the ratio to SQLite's own synced commit "
                            "rate (measured side by side) are the load-independent figures"},
        "load": {**res_load, "sqlite_synced_commits_per_s": rate,
                 "ratio_responses_per_s_vs_synced_commits": res_load["responses_per_s"] / rate},
        "sigkill": res_kill,
        "export": res_export,
        "loadavg_start": load_start,
        "wall_s": wall,
        "peak_rss_mib_benchmark": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
