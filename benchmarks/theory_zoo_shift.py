"""The domain-shift axis on a zoo sweep: accuracy on ``bundled:digits_shifted`` against alignment.

Trains (or reuses) the ``--n`` sweep models in ``--folder`` (``train_sweep`` skips finished ones),
runs :func:`repalign.analysis.zoo_study` on them (alignment with the robust-model ensemble,
few-shot transfer, clean, PGD and shifted-digits accuracy; models below clean accuracy 0.5 left
out of the statistics) into ``benchmarks/results/theory_zoo_shift/``, and reports the shifted
accuracy's partial correlation with alignment given clean accuracy, its correlation with
z²(alignment), its U-shape test and high/mid/low-5 means. Copies the shift figure to
``docs/figures/theory_zoo_shift.png``.

Usage: ``python benchmarks/theory_zoo_shift.py --folder SWEEP [--n 44] [--jobs 2]``. Prints one
JSON line and writes ``benchmarks/results/theory_zoo_shift.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, report

from repalign.analysis import zoo_study
from repalign.models.zoo import train_sweep

DOCS = Path(__file__).resolve().parents[1] / "docs" / "figures"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folder", required=True, help="checkpoint folder of the sweep")
    ap.add_argument("--n", type=int, default=44)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    table = train_sweep(args.n, args.folder, jobs=args.jobs, quiet=True)
    t_train = time.perf_counter() - t0
    out = RESULTS / "theory_zoo_shift"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = zoo_study(args.folder, list(table["name"]), min_clean_acc=0.5, out=out)
    shutil.copyfile(out / "figure_shift.png", DOCS / "theory_zoo_shift.png")
    res = study.analysis
    mt = study.model_table
    shift_cols = ["model", "arch", "style", "clean_acc", "robust_acc_l2", "shift_acc",
                  *[c for c in mt.columns if c.startswith("shift_acc_")], "included"]
    report("theory_zoo_shift", {
        "note": "shared 2-core machine, busy with other work; accuracies and statistics do not "
                "depend on it",
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "train_s": round(t_train, 1), "wall_s": round(time.perf_counter() - t0, 1),
        "models": len(mt), "included": int(mt["included"].sum()),
        "reference": study.reference,
        "partial_given_clean_acc": res.partial[res.partial["y"] == "shift_acc"].round(4)
        .to_dict(orient="records"),
        "z2": res.z2_corr[res.z2_corr["y"] == "shift_acc"].round(4).to_dict(orient="records"),
        "u_shape": res.u_shapes[res.u_shapes["y"] == "shift_acc"].round(4)
        .to_dict(orient="records"),
        "groups": res.groups[res.groups["metric"] == "shift_acc"].round(4)
        .to_dict(orient="records"),
        "rendition_means": mt.loc[mt["included"], [c for c in mt.columns
                                                   if c.startswith("shift_acc")]]
        .mean().round(4).to_dict(),
        "model_table": mt[shift_cols].round(4).to_dict(orient="records"),
    })


if __name__ == "__main__":
    main()
