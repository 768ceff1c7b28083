"""``repalign experiment``: serve a human experiment, export its answers, run a demo, simulate
participants."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "experiment_digits.toml"


def _serve_experiment(config: Any, args: argparse.Namespace) -> int:
    from repalign._deps import require
    from repalign.experiments import Experiment
    from repalign.experiments.app import check_web_assets, create_app

    uvicorn = require("uvicorn", "experiments", purpose="the experiment server")
    if not args.api_only:
        check_web_assets()
    exp = Experiment.open(config, args.db)
    app = create_app(exp)
    base = f"http://{args.host}:{args.port}"
    u = exp.cfg.url_params
    print(f"experiment {exp.cfg.name!r} ({exp.cfg.paradigm}) on {base}/ , database {args.db}",
          file=sys.stderr)
    print(f"participants: {base}/?{u.participant}=ID&{u.study}=STUDY&{u.session}=SESSION",
          file=sys.stderr)
    if exp.token_generated or exp.cfg.admin_token is None:
        print(f"admin: {base}/admin?token={exp.token}", file=sys.stderr)
    else:
        print(f"admin: {base}/admin (token from the configuration)", file=sys.stderr)
    sys.stderr.flush()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=5)
    return 0


def _serve(args: argparse.Namespace) -> int:
    return _serve_experiment(args.experiment, args)


def _demo(args: argparse.Namespace) -> int:
    return _serve_experiment(DEMO_CONFIG, args)


def _export(args: argparse.Namespace) -> int:
    from repalign.experiments import export_experiment

    out = export_experiment(args.db, args.out, quiet=args.quiet)
    print(json.dumps(out, indent=1))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from repalign.experiments.simulate import simulate_participants

    emb = None
    if args.observer:
        import numpy as np

        from repalign.errors import DataFormatError

        try:
            emb = np.load(args.observer, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"{args.observer}: not a readable .npy embedding ({exc}).") from exc
    report = simulate_participants(args.url, args.participants, embedding=emb,
                                   temperature=args.temperature, concurrency=args.concurrency,
                                   seed=args.seed, prefix=args.prefix)
    print(json.dumps(report.summary()))
    return 1 if report.refused else 0


def _add_server_args(p: argparse.ArgumentParser, db_required: bool = True) -> None:
    p.add_argument("--db", required=db_required, help="SQLite database (created when missing)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; "
                   "behind an HTTPS reverse proxy keep it)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-only", action="store_true",
                   help="serve without the jsPsych page (a placeholder page; the API works): "
                   "for simulated participants and load tests")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``experiment`` with ``serve``, ``export``, ``demo`` and ``simulate``."""
    p = subparsers.add_parser(
        "experiment", help="run human experiments in the browser (serve, export, demo, simulate)",
        description="Human experiments: odd-one-out, 2AFC on metamers, matching, recognition and "
                    "similarity ratings, served to participants' browsers (jsPsych), every "
                    "response committed to SQLite before it is acknowledged.")
    sub = p.add_subparsers(dest="experiment_command", metavar="COMMAND", required=True)

    s = sub.add_parser("serve", help="serve an experiment file",
                       description="Serve EXPERIMENT (.toml/.yaml) at http://HOST:PORT/; the admin "
                                   "view is /admin (its token is printed when generated).")
    s.add_argument("experiment", help="experiment file (.toml, .yaml)")
    _add_server_args(s)
    s.set_defaults(func=_serve)

    d = sub.add_parser("demo", help="serve the built-in odd-one-out experiment on bundled digits",
                       description=f"Serve {DEMO_CONFIG.name}: 30 odd-one-out triplets of "
                                   "handwritten digits plus 4 catch trials per participant.")
    _add_server_args(d)
    d.set_defaults(func=_demo)

    e = sub.add_parser("export", help="write an experiment database in repalign's formats",
                       description="Write responses.csv, participants.csv and the paradigm's "
                                   "files (triplets.csv, two_afc/, *_scores.csv, similarity.csv).")
    e.add_argument("db", help="experiment database")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_export)

    m = sub.add_parser("simulate", help="simulated participants over HTTP (pilots, load tests)",
                       description="Simulated participants complete sessions on a running server "
                                   "on this machine; prints a JSON summary.")
    m.add_argument("url", help="server URL, e.g. http://127.0.0.1:8000")
    m.add_argument("--participants", type=int, required=True)
    m.add_argument("--observer", default=None,
                   help=".npy (N, K) embedding of the simulated observer, one row per stimulus")
    m.add_argument("--temperature", type=float, default=1.0)
    m.add_argument("--concurrency", type=int, default=50)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--prefix", default="sim", help="participant id prefix")
    m.set_defaults(func=_simulate)
