"""``repalign extract SPEC STIMULI --layers ... --out FILE``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _extract(args: argparse.Namespace) -> int:
    from repalign.data.loaders import load_stimuli
    from repalign.features.extract import extract_features
    from repalign.features.io import HDF5_SUFFIXES, save_features
    from repalign.features.stream import FolderImages
    from repalign.models.factory import create_model

    model = create_model(
        args.spec,
        pretrained=not args.random_init,
        checkpoint=args.checkpoint,
        device=args.device,
        trust_checkpoint=args.trust_checkpoint,
        image_size=args.image_size,
    )
    stimuli: Any
    if Path(args.stimuli).is_dir() and not args.cache:  # streamed: decoded while the model runs
        stimuli = FolderImages(args.stimuli, model.input_size[0], limit=args.limit)
    else:
        stimuli = load_stimuli(args.stimuli, channels=model.input_size[0], limit=args.limit)
    out = Path(args.out)
    stream = out.suffix.lower() in HDF5_SUFFIXES
    features = extract_features(
        model,
        stimuli,
        args.layers,
        reduce=args.reduce,
        batch_size=args.batch_size,
        cache=args.cache,
        out=out if stream else None,
        quiet=args.quiet,
        num_workers=args.workers,
        channels_last=args.channels_last,
        compile=args.compile,
    )
    if not stream:
        save_features(features, out, ids=list(stimuli.ids))
    for layer, arr in features.items():
        print(f"{layer}\t{arr.shape[0]} x {arr.shape[1]}")
    print(f"features of {len(stimuli)} stimuli written to {out}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``extract``."""
    p = subparsers.add_parser(
        "extract",
        help="extract layer features of a model for a stimulus set",
        description=(
            "Extract features and write them to OUT: .h5/.hdf5 (streamed in chunks), .npz, .npy "
            "(one layer) or a folder (thingsvision layout: LAYER/features.npy + file_names.txt)."
        ),
    )
    p.add_argument("spec", help="model spec, e.g. zoo:NAME, torchvision:resnet18, file:ckpt.pt?arch=resnet50")
    p.add_argument("stimuli", help="stimuli for load_stimuli, e.g. bundled:digits or an image folder")
    p.add_argument("--layers", nargs="+", default=None, help="layer names (default: the model's default layers)")
    p.add_argument("--out", required=True, help="output file or folder")
    p.add_argument("--reduce", default="flatten", help="flatten, avgpool, cls_token or mean_tokens")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, default=None, help="use only the first N stimuli")
    p.add_argument("--device", default=None, help="cpu, cuda or auto (default)")
    p.add_argument(
        "--image-size", type=int, default=None, help="resize inputs to this size instead of the model's own"
    )
    p.add_argument("--checkpoint", default=None, help="checkpoint file loaded onto the architecture")
    p.add_argument("--random-init", action="store_true", help="do not load pretrained weights")
    p.add_argument("--trust-checkpoint", action="store_true", help="allow fully unpickled checkpoints")
    p.add_argument("--cache", action="store_true", help="reuse and fill the on-disk feature cache")
    p.add_argument("--workers", type=int, default=None,
                   help="processes decoding a folder's images while the model runs (default: "
                        "one per spare core; 0: decode in the main process)")
    p.add_argument("--channels-last", dest="channels_last", action="store_true",
                   help="channels_last memory format (faster convolutions on many machines)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the forward up to the deepest layer (first batch compiles)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_extract)
