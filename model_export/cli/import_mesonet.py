"""``python -m model_export import-mesonet``: published MesoNet weights, face-aware."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import Commands, add_eval_args


def add(commands: Commands) -> None:
    """Declare the command and its options."""
    meso = commands.add_parser(
        "import-mesonet",
        help="publish MesoNet from its published Keras .h5 weights, face-aware",
        description=(
            "Rebuild Meso-4 or MesoInception-4, load published weights (a Keras 2 weights-only "
            "or full-model .h5, layers matched by numeric suffix), turn its P(REAL) output into "
            "a fake probability, and publish it face-aware (in-graph MTCNN, crops, MesoNet) as "
            "the next version."
        ),
    )
    meso.add_argument("--weights", type=Path, required=True, help="published Keras 2 .h5 file")
    meso.add_argument("--arch", choices=("meso4", "mesoinception4"), required=True)
    meso.add_argument(
        "--output",
        type=Path,
        required=True,
        help="model directory to publish into, e.g. models/deepfake",
    )
    meso.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="decision threshold when not calibrated (%(default)s)",
    )
    meso.add_argument(
        "--margin",
        type=float,
        default=None,
        help="face crop margin per side, as a fraction of the box (default: "
        "model_export.faces.DEFAULT_MARGIN, 0.3, the margin default-model ships)",
    )
    add_eval_args(meso)
    meso.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Import published MesoNet weights and publish them face-aware."""
    from model_export.faces import DEFAULT_MARGIN
    from model_export.mesonet import import_mesonet

    path, threshold = import_mesonet(
        args.weights,
        args.arch,
        args.output,
        threshold=args.threshold,
        margin=DEFAULT_MARGIN if args.margin is None else args.margin,
        calibrate_data=args.calibrate_data,
        gate_data=args.gate_data,
        frames_per_video=args.frames,
        version=args.version,
    )
    print(f"published {args.arch} from {args.weights.name} at {path} (threshold {threshold:.4f})")
    return 0
