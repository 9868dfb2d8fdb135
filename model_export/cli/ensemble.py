"""``python -m model_export ensemble``: several face classifiers as one version."""

from __future__ import annotations

import argparse
from pathlib import Path

from contract.sampling import DEFAULT_FRAMES_PER_VIDEO

from ._common import Commands


def add(commands: Commands) -> None:
    """Declare the command and its options."""
    ensemble = commands.add_parser(
        "ensemble",
        help="publish several face classifiers as one face-aware version",
        description=(
            "Run several classifiers on the same face crops in one graph (one detector, each "
            "member's own crop size and margin), combine their logits with weights fitted by "
            "logistic regression on --calibrate-data (equal weights without it), calibrate "
            "one threshold, and publish the next version with each member's scores as "
            "extra outputs."
        ),
    )
    ensemble.add_argument(
        "--member",
        action="append",
        required=True,
        metavar="SPEC",
        help=(
            "a face-aware version or model directory, meso4:<file.h5>, "
            "mesoinception4:<file.h5> or keras:<file.keras>; repeat for each member"
        ),
    )
    ensemble.add_argument(
        "--output", type=Path, required=True, help="model directory to publish into"
    )
    ensemble.add_argument(
        "--margin",
        type=float,
        default=0.2,
        help="face crop margin of arch:weights members (%(default)s)",
    )
    ensemble.add_argument(
        "--calibrate-data",
        type=Path,
        nargs="+",
        default=None,
        help="labelled videos from sources no member trained on, to fit weights and threshold",
    )
    ensemble.add_argument(
        "--frames",
        type=int,
        default=DEFAULT_FRAMES_PER_VIDEO,
        help="frames per video (%(default)s)",
    )
    ensemble.add_argument(
        "--audio-member",
        type=Path,
        default=None,
        metavar="VERSION",
        help=(
            "a version with classify_audio (an audio-visual member) to embed; how its score "
            "joins the video score is fitted on --calibrate-data's videos with sound"
        ),
    )
    ensemble.add_argument(
        "--motion-member",
        type=Path,
        default=None,
        metavar="VERSION",
        help=(
            "a version with classify_motion (a talking-head member, `train-motion`) to embed; "
            "how its score joins the video score is fitted on --calibrate-data's videos"
        ),
    )
    ensemble.add_argument("--version", type=int, default=None, help="explicit version number")
    ensemble.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build, fit and publish an ensemble of face classifiers."""
    from model_export.ensemble import publish_ensemble

    path, info = publish_ensemble(
        args.member,
        args.output,
        margin=args.margin,
        calibrate_data=args.calibrate_data,
        frames_per_video=args.frames,
        version=args.version,
        audio_member=args.audio_member,
        motion_member=args.motion_member,
    )
    weights = ", ".join(
        f"{name} {weight:+.3f}"
        for name, weight in zip(info["member_names"], info["combination"]["weights"], strict=True)
    )
    joined = "".join(
        f"; {key} {info[key]['combination']}" for key in ("motion", "audio") if key in info
    )
    threshold = info["threshold"]
    print(f"published ensemble at {path} (threshold {threshold:.4f}; weights {weights}{joined})")
    return 0
