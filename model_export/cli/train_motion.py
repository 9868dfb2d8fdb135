"""``python -m model_export train-motion``: the talking-head member, measured and published."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from contract.sampling import DEFAULT_FRAMES_PER_VIDEO

from ._common import Commands


def add(commands: Commands) -> None:
    """Declare the command and its options."""
    parser = commands.add_parser(
        "train-motion",
        help="train the talking-head member (a face track's motion) and publish it",
        description=(
            "Find each labelled clip's face track as the gateway does, compute its motion "
            "features (the exported graph's own), report the member out of fold under the "
            "leave-one-source-out protocol (and, with --join-scores, a visual version joined "
            "with it), then fit it on every clip and publish it: a version with "
            "classify_motion, for `ensemble --motion-member`."
        ),
    )
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="labelled videos")
    parser.add_argument(
        "--output", type=Path, required=True, help="model directory to publish into"
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=Path("var/eval/talking-head"),
        help="where the features and the reports go (%(default)s)",
    )
    parser.add_argument(
        "--join-scores",
        type=Path,
        default=None,
        metavar="REPORT_DIR",
        help="a visual version's LOSO report directory (evaluate --protocol), to report "
        "it joined with the member",
    )
    parser.add_argument(
        "--frames", type=int, default=DEFAULT_FRAMES_PER_VIDEO, help="frames per video"
    )
    parser.add_argument(
        "--l2",
        type=float,
        default=None,
        help="precision of the prior on each standardised weight (default: the module's)",
    )
    parser.add_argument(
        "--train-kinds",
        nargs="+",
        default=None,
        metavar="KIND",
        help="the FAKE kinds the member learns from, beside every REAL clip (default: "
        "talking_head; `all`: every fake); every clip is scored",
    )
    parser.add_argument("--version", type=int, default=None, help="explicit version number")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Measure and publish the talking-head member."""
    from model_export.motion_member import DEFAULT_L2
    from model_export.motion_training import DEFAULT_TRAIN_KINDS, train_motion

    kinds = args.train_kinds or list(DEFAULT_TRAIN_KINDS)
    summary = train_motion(
        args.data,
        args.output,
        args.report_dir,
        frames_per_video=args.frames,
        l2=DEFAULT_L2 if args.l2 is None else args.l2,
        train_kinds=None if kinds == ["all"] else kinds,
        join_scores=args.join_scores,
        version=args.version,
    )
    print(json.dumps(summary, indent=2, default=str))
    return 0
