"""``python -m model_export demo``: build the demo model and publish it."""

from __future__ import annotations

import argparse

from ._common import Commands, add_demo_args, add_target_args, print_lines


def add(commands: Commands) -> None:
    """Declare the command and its options."""
    demo = commands.add_parser(
        "demo",
        help="build the DEMO model from bundled photographs and publish it",
        description=(
            "Build a DEMO detector: synthesise short H.264 clips from two face photographs "
            "that ship inside scikit-image and matplotlib (REAL: camera motion, lighting, "
            "noise, compression; FAKE: the same clips with a blended, manipulated face), "
            "train a small CNN on them and publish the next version. It only knows these two "
            "faces and this one manipulation: it is a plumbing demo, not a real detector."
        ),
    )
    add_target_args(demo)
    demo.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when the model folder already holds a version",
    )
    add_demo_args(demo)
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Synthesise the demo data, train, calibrate and publish the next version."""
    from model_export.demo import build_demo, demo_lines

    result = build_demo(
        args.model_base_path / args.model_name,
        data_dir=args.data_dir,
        clips_per_source=args.clips_per_source,
        epochs=args.epochs,
        seed=args.seed,
        if_missing=args.if_missing,
    )
    print_lines(demo_lines(result))
    return 0
