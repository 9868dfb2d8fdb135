"""Command line of ``python -m model_export``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import contract

log = logging.getLogger("model_export")

DEFAULT_DEMO_DATA = Path("var/demo-data")


def _base_path_default() -> str:
    return os.environ.get("MODEL_BASE_PATH", "models")


def _model_name_default() -> str:
    return os.environ.get("MODEL_NAME", contract.DEFAULT_MODEL_NAME)


def _add_target_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-base-path",
        type=Path,
        default=Path(_base_path_default()),
        help="directory holding one folder per model (env MODEL_BASE_PATH, default %(default)s)",
    )
    parser.add_argument(
        "--model-name",
        default=_model_name_default(),
        help="model folder under the base path (env MODEL_NAME, default %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all sub-commands."""
    parser = argparse.ArgumentParser(
        prog="python -m model_export",
        description="Train, evaluate and publish deepfake detectors as versioned SavedModels.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

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
    _add_target_args(demo)
    demo.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when the model folder already holds a version",
    )
    demo.add_argument("--epochs", type=int, default=15, help="training epochs (%(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DEMO_DATA,
        help="cache of synthesised clips (%(default)s)",
    )
    demo.add_argument(
        "--clips-per-source",
        type=int,
        default=32,
        help="REAL/FAKE clip pairs per photograph (%(default)s)",
    )
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    """Synthesise the demo data, train, calibrate and publish the next version."""
    from model_export.publish import existing_versions

    model_dir = args.model_base_path / args.model_name
    if args.if_missing and existing_versions(model_dir):
        log.info("model already has a version; nothing to do", extra={"path": str(model_dir)})
        print(f"{model_dir} already holds version(s) {existing_versions(model_dir)}; skipped")
        return 0

    from model_export.demo_data import DemoConfig, build_demo_dataset
    from model_export.publish import publish_version
    from model_export.train import TrainConfig, load_frames, split_by_group, train_classifier

    started = time.monotonic()
    demo_config = DemoConfig(clips_per_source=args.clips_per_source, seed=args.seed)
    clips = build_demo_dataset(args.data_dir, demo_config)
    config = TrainConfig(epochs=args.epochs, seed=args.seed)
    train_clips, val_clips = split_by_group(clips, config.val_fraction, config.seed)
    log.info(
        "decoding frames: %d train clips, %d validation clips", len(train_clips), len(val_clips)
    )
    train = load_frames(train_clips, config.frames_per_clip)
    val = load_frames(val_clips, config.frames_per_clip)
    result = train_classifier(train, val, config)
    path = publish_version(
        result.model,
        args.model_base_path,
        args.model_name,
        threshold=result.threshold,
        input_size=config.input_size,
        info={
            "kind": "demo",
            "validation": {
                "frame": result.frame_metrics.as_dict(),
                "video": result.video_metrics.as_dict(),
            },
        },
    )
    fm, vm = result.frame_metrics, result.video_metrics
    print(f"DEMO model (synthetic data, not a real detector) published at {path}")
    print(f"threshold {result.threshold:.4f} (calibrated on {len(val_clips)} validation clips)")
    print(
        f"validation frames: accuracy {fm.accuracy:.3f} AUC {fm.roc_auc:.3f} "
        f"log-loss {fm.log_loss:.3f} (n={fm.count})"
    )
    print(
        f"validation videos: accuracy {vm.accuracy:.3f} AUC {vm.roc_auc:.3f} "
        f"log-loss {vm.log_loss:.3f} (n={vm.count})"
    )
    print(f"took {time.monotonic() - started:.0f} s")
    return 0


COMMANDS = {"demo": cmd_demo}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    return COMMANDS[args.command](args)
