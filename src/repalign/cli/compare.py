"""``repalign compare A B --metric ...``: alignment between two representations, with a CI."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def _option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with the value read by the spec grammar (numbers, true/false, lists, words)."""
    from repalign.errors import SpecError
    from repalign.specs import parse_value

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"options are KEY=VALUE, received {text!r}")
    try:
        return key, parse_value(value, f"--option {key}")
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _metric_options(metrics: list[str], options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each metric's share of the ``--option`` pairs: those it accepts.

    An option that none of the metrics accepts is an error, so a misspelt key is not dropped.
    """
    from repalign.errors import ConfigError
    from repalign.similarity.compare import METRICS

    allowed = {m: set(METRICS.info(METRICS.parse(m)[0]).options or ()) for m in metrics}
    unused = sorted(set(options) - set().union(*allowed.values()))
    if unused:
        offered = {m: sorted(a) for m, a in allowed.items()}
        raise ConfigError(f"--option {unused}: no requested metric takes it; their options are "
                          f"{offered}.")
    return {m: {k: v for k, v in options.items() if k in allowed[m]} for m in metrics}


def _compare(args: argparse.Namespace) -> int:
    from repalign.similarity import bootstrap, compare
    from repalign.similarity.inputs import load_representation

    kinds = (args.kind, args.kind_b or args.kind)
    x = load_representation(args.a, kind=kinds[0], layer=args.layer)
    y = load_representation(args.b, kind=kinds[1], layer=args.layer_b or args.layer)
    per_metric = _metric_options(args.metric, dict(args.option))
    for metric in args.metric:
        options = per_metric[metric]
        if args.bootstrap:
            res = bootstrap(x, y, metric, args.bootstrap, kind=kinds, rdm_metric=args.rdm_metric,
                            level=args.level, seed=args.seed, quiet=args.quiet, **options)
            failed = f", {res.n_failed} draws undefined" if res.n_failed else ""
            print(f"{metric}\t{res.value:.6g}\t{100 * args.level:g}% CI [{res.low:.6g}, "
                  f"{res.high:.6g}] (bootstrap over {len(x)} stimuli, {args.bootstrap} draws"
                  f"{failed})")
        else:
            value = compare(x, y, metric, kind=kinds, rdm_metric=args.rdm_metric, **options)
            print(f"{metric}\t{value:.6g}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``compare``."""
    p = subparsers.add_parser(
        "compare",
        help="alignment between two representations (features or similarity matrices)",
        description=(
            "Compare two representations of the same stimuli: feature files (.npy, .npz, .h5, "
            "thingsvision folders) or similarity/dissimilarity matrices (also .csv, .mat). "
            "Prints one line per metric: name, value and, with --bootstrap N, a confidence "
            "interval over stimuli. `python -c 'import repalign; print(repalign.list_metrics())'` "
            "lists the metrics."
        ),
    )
    p.add_argument("a", help="first representation (file)")
    p.add_argument("b", help="second representation (file)")
    p.add_argument("--metric", nargs="+", default=["rsa_spearman"],
                   help="one or more metrics (default: rsa_spearman)")
    p.add_argument("--kind", default="features", choices=["features", "similarity", "dissimilarity"],
                   help="what A holds (and B, unless --kind-b)")
    p.add_argument("--kind-b", default=None, choices=["features", "similarity", "dissimilarity"],
                   help="what B holds, when it differs from A")
    p.add_argument("--layer", default=None, help="layer / key / MATLAB variable to read from A (and B)")
    p.add_argument("--layer-b", default=None, help="layer / key to read from B")
    p.add_argument("--rdm-metric", default="euclidean",
                   help="dissimilarity between feature rows for RDM-based metrics")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="bootstrap draws over stimuli for a confidence interval (0: none)")
    p.add_argument("--level", type=float, default=0.95, help="confidence level")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="metric option, e.g. ties=strict or k=5 (repeatable; each metric gets "
                        "the options it takes)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_compare)
