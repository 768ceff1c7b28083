"""``repalign models list [PATTERN]`` and ``repalign models layers SPEC``."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _list(args: argparse.Namespace) -> int:
    from repalign.models.factory import list_models

    names = list_models(args.pattern)
    for name in names:
        print(name)
    if not names:
        print(f"no model matches {args.pattern!r}")
    return 0


def _layers(args: argparse.Namespace) -> int:
    from repalign.models.factory import create_model
    from repalign.models.layers import default_layers
    from repalign.models.sources import parse_spec

    # zoo and file models are their weights (shipped or given); others need none for their layers
    own_weights = parse_spec(args.spec)[0] in ("zoo", "file")
    model = create_model(
        args.spec,
        pretrained=args.pretrained or own_weights,
        device="cpu",
        trust_checkpoint=args.trust_checkpoint,
    )
    modules = dict(model.network.named_modules())
    defaults = set(default_layers(model))
    for name in model.layers():
        mark = "*" if name in defaults else " "
        print(f"{mark} {name}\t{type(modules[name]).__name__}")
    print(f"({len(modules) - 1} layers; * = default layers; input size {model.input_size})")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``models list`` and ``models layers``."""
    parser = subparsers.add_parser("models", help="list models and their layers")
    sub = parser.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)

    p_list = sub.add_parser("list", help="models the installed libraries offer (source:name)")
    p_list.add_argument(
        "pattern", nargs="?", default="*", help="glob over source:name, e.g. 'zoo:*' or 'timm:resnet*'"
    )
    p_list.set_defaults(func=_list)

    p_layers = sub.add_parser("layers", help="layer names of a model (dotted torch module names)")
    p_layers.add_argument("spec", help="model spec, e.g. torchvision:resnet18 or zoo:NAME")
    p_layers.add_argument(
        "--pretrained",
        action="store_true",
        help="load pretrained weights (names do not depend on them; off except for zoo: and file:)",
    )
    p_layers.add_argument("--trust-checkpoint", action="store_true", help="allow fully unpickled checkpoints")
    p_layers.set_defaults(func=_layers)
