"""``repalign evaluate RESULT_DIR --tests ... --observers ... [--distance ...] [--out DIR]``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]

TESTS = ("two_afc", "clustering", "recognizability", "representation", "transfer")
_SHOW = ["generator", "layer", "regularizer", "init", "observer", "observer_layer", "distance",
         "metric", "value", "ci_low", "ci_high", "n", "p_value", "chance"]


def _handler(args: argparse.Namespace) -> int:
    import repalign as ra
    from repalign.errors import ConfigError
    from repalign.evaluation import figures
    from repalign.models.factory import expand_model_specs

    res = ra.MetamerResult.load(args.result)
    needs = {"recognizability", "representation", "transfer"} & set(args.tests)
    if needs and not args.observers:
        raise ConfigError(f"--observers is required for {sorted(needs)}; e.g. --observers "
                          "zoo:cnn_l2_s1 zoo:mlp_standard_s0.")
    args.observers = expand_model_specs(args.observers, "--observers")
    out = Path(args.out) if args.out else Path(args.result) / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    common: dict[str, Any] = {"n_boot": args.n_boot, "seed": args.seed, "device": args.device}
    tables: dict[str, Any] = {}
    if "two_afc" in args.tests:
        tables["two_afc"] = ra.evaluation.two_afc(res, args.distance, ties=args.ties, **common)
    if "clustering" in args.tests:
        tables["clustering"] = ra.evaluation.clustering(
            res, args.distance, hard=args.hard, per_target=args.per_target, **common)
    if "recognizability" in args.tests:
        tables["recognizability"] = ra.evaluation.recognizability(res, args.observers, **common)
    if "representation" in args.tests:
        tables["representation"] = ra.evaluation.representation_test(
            res, args.observers, args.layers, n_perm=args.n_perm, **common)
    if "transfer" in args.tests:
        tables["transfer"] = ra.evaluation.transfer_matrix(res, args.observers, n_perm=args.n_perm,
                                                           **common)
    for name, df in tables.items():
        df.to_csv(out / f"{name}.csv", index=False)
        print(f"== {name}")
        print(df[[c for c in _SHOW if c in df.columns]].to_string(index=False, float_format="%.3f"))
    if not args.no_figures:
        figures.plot_metamer_grid(res, path=out / "metamers")
        if "two_afc" in tables:
            figures.plot_scores(tables["two_afc"], "two_afc", path=out / "two_afc")
        if "recognizability" in tables:
            figures.plot_scores(tables["recognizability"], "accuracy_metamers",
                                path=out / "recognizability")
        if "representation" in tables:
            ra.evaluation.plot_representation_heatmap(tables["representation"], "match_rate",
                                                path=out / "representation_heatmap")
            coords = ra.evaluation.representation_projection(
                res, args.observers, args.layers, method=args.projection, seed=args.seed,
                device=args.device)
            coords.to_csv(out / "representation_projection.csv", index=False)
            ra.evaluation.plot_representation_projection(coords, path=out / "representation_projection")
        if "transfer" in tables:
            for metric in ("accuracy_metamers", "two_afc", "match_rate"):
                if metric in set(tables["transfer"].metric):
                    figures.plot_transfer(tables["transfer"], metric, path=out / f"transfer_{metric}")
    print(f"tables and figures written to {out}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``evaluate`` command."""
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate saved metamers: 2AFC, clustering, recognizability, representation, transfer",
        description=(
            "Evaluate the metamers saved in RESULT_DIR (MetamerResult.save / repalign metamers). "
            "Writes one CSV per test, bar charts, transfer heatmaps, the representation test's "
            "observer x depth heatmap and per-stage 2-D projection, and a metamer grid (PNG and "
            "SVG) to --out (default RESULT_DIR/evaluation)."
        ),
    )
    p.add_argument("result", metavar="RESULT_DIR")
    p.add_argument("--tests", nargs="+", choices=TESTS, default=["two_afc", "clustering"],
                   help="tests to run (default: two_afc clustering)")
    p.add_argument("--observers", nargs="+", metavar="SPEC", default=[],
                   help="observer model specs or glob patterns, e.g. zoo:cnn_l2_s1 or 'zoo:*_s1' "
                        "(needed by recognizability, representation, transfer)")
    p.add_argument("--distance", default="ssim",
                   help="perceptual distance for two_afc and clustering, e.g. ssim, lpips:nanda, "
                        "'mean(ssim, pixel_l2)', model:zoo:cnn_l2_s0@flatten (default: ssim)")
    p.add_argument("--layers", nargs="+", metavar="LAYER",
                   help="observer layers for the representation test (default: each observer's "
                        "default layers)")
    p.add_argument("--projection", default="pca", choices=["pca", "mds"],
                   help="2-D projection of targets and metamers per observer stage drawn with the "
                        "representation test (default pca)")
    p.add_argument("--hard", action="store_true", help="hard clustering: most similar triples")
    p.add_argument("--per-target", dest="per_target", type=int, default=2,
                   help="metamers per target in the clustering test (default 2)")
    p.add_argument("--ties", default="strict", choices=["strict", "half", "inclusive"],
                   help="how 2AFC counts equal distances (default strict)")
    p.add_argument("--n-boot", dest="n_boot", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--n-perm", dest="n_perm", type=int, default=1000, help="Mantel permutations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda or auto (default)")
    p.add_argument("--out", help="output folder (default RESULT_DIR/evaluation)")
    p.add_argument("--no-figures", dest="no_figures", action="store_true", help="tables only")
    p.set_defaults(func=_handler)
