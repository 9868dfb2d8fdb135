"""``python -m model_export evaluate``: score a version, or leave one source out."""

from __future__ import annotations

import argparse
from pathlib import Path

from contract.aggregation import DEFAULT_AGGREGATION, FRAME_AGGREGATIONS
from contract.sampling import DEFAULT_FRAMES_PER_VIDEO

from ._common import TRAIN_ARCHS, Commands, print_lines


def add(commands: Commands) -> None:
    """Declare the command and its options."""
    evaluate = commands.add_parser(
        "evaluate",
        help="measure a published version on labelled videos",
        description=(
            "Score labelled videos with a published version through a TF1 session (as TF "
            "Serving runs it): accuracy, precision, recall, F1, ROC-AUC and log-loss at frame "
            "and video level, ROC, confusion-matrix and reliability PNGs, per-video CSV. With "
            "--protocol leave-one-source-out, every immediate subfolder of a data root is a "
            "source: for "
            "each source, calibration and threshold are fitted on the other sources and the "
            "source is scored with them; pooled video ROC-AUC, log-loss, Brier score, ECE and "
            "accuracy with bootstrap 95% intervals, per manipulation kind and per source "
            "(loso.json, loso.md; the scores are kept in loso_videos.pkl for --from-scores), and "
            "the reliability diagram of the out-of-fold shipped probabilities (reliability.png) "
            "with ECE, Brier and log-loss at the deployment prior, intervals over sources."
        ),
    )
    evaluate.add_argument(
        "--model",
        type=Path,
        required=True,
        help="a version directory, or a model directory (highest version); with "
        "--train-arch, the work directory the fold models are published into",
    )
    evaluate.add_argument(
        "--data",
        type=Path,
        nargs="+",
        required=True,
        help="data set roots (FF++, DFDC, real/fake folders or labels.csv)",
    )
    evaluate.add_argument(
        "--frames",
        type=int,
        default=DEFAULT_FRAMES_PER_VIDEO,
        help="frames per video (%(default)s)",
    )
    evaluate.add_argument(
        "--output",
        type=Path,
        default=None,
        help="report directory (default var/eval/<model>-<version>[-loso])",
    )
    evaluate.add_argument(
        "--protocol",
        choices=("all", "leave-one-source-out"),
        default="all",
        help="all: score every video with the version as shipped; leave-one-source-out: "
        "fit calibration and threshold on the other sources per held-out source (%(default)s)",
    )
    evaluate.add_argument(
        "--bootstrap",
        type=int,
        default=2000,
        metavar="N",
        help="video resamples of the 95%% intervals (leave-one-source-out, %(default)s)",
    )
    evaluate.add_argument(
        "--seed", type=int, default=0, help="seed of the bootstrap resampling (%(default)s)"
    )
    evaluate.add_argument(
        "--train-arch",
        choices=TRAIN_ARCHS,
        default=None,
        help="leave-one-source-out only: train this architecture per fold on the other "
        "sources (face-aware, as train) instead of scoring one published version",
    )
    evaluate.add_argument(
        "--train-epochs", type=int, default=10, help="epochs per fold model (%(default)s)"
    )
    evaluate.add_argument(
        "--train-frames",
        type=int,
        default=8,
        help="frames per video to train each fold model on (%(default)s)",
    )
    evaluate.add_argument(
        "--train-input-size", type=int, default=128, help="fold models' input side"
    )
    evaluate.add_argument(
        "--train-self-blend",
        action="store_true",
        help="fold models train on self-blended pseudo-fakes of their real faces (as train "
        "--self-blend; labelled fakes serve validation only)",
    )
    evaluate.add_argument(
        "--train-blend-draws",
        type=int,
        default=4,
        help="with --train-self-blend: new pseudo-fakes of each real face per epoch (%(default)s)",
    )
    evaluate.add_argument(
        "--train-augment", action="store_true", help="fold models train with augmentation"
    )
    evaluate.add_argument(
        "--aggregation",
        choices=FRAME_AGGREGATIONS,
        default=DEFAULT_AGGREGATION,
        help="leave-one-source-out: the track rule the folds fit and score with (%(default)s)",
    )
    evaluate.add_argument(
        "--floor-grid",
        type=float,
        nargs="*",
        default=None,
        metavar="E",
        help="leave-one-source-out: also run the folds with the shipped probability clipped "
        "to [E, 1 - E] for each E (no value: the grid of calibration.FLOOR_GRID) and report "
        "the E of lowest pooled held-out log-loss",
    )
    evaluate.add_argument(
        "--from-scores",
        type=Path,
        default=None,
        metavar="REPORT_DIR",
        help="leave-one-source-out: reuse the scores an earlier run of the same version and "
        "data kept in REPORT_DIR (loso_videos.pkl) instead of scoring again",
    )
    evaluate.add_argument(
        "--robustness",
        action="store_true",
        help="also score every video re-encoded (H.264 CRF 23, 30, 38), at half size and "
        "mirrored (model_export.robustness): ROC-AUC under each, |score change| and verdict "
        "flips, in the JSON and markdown reports (a published version, not --train-arch)",
    )
    evaluate.add_argument(
        "--robustness-per-group",
        type=int,
        default=None,
        metavar="K",
        help="with --robustness: transform at most K videos per source and label (default all)",
    )
    evaluate.add_argument("--cache-dir", type=Path, default=Path("var/face-cache"))
    evaluate.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate a version and write the report (LOSO with ``--protocol``)."""
    if args.train_arch and args.protocol != "leave-one-source-out":
        raise SystemExit("--train-arch needs --protocol leave-one-source-out")
    loso_only = (
        args.floor_grid is not None or args.from_scores or args.aggregation != DEFAULT_AGGREGATION
    )
    if loso_only and (args.protocol != "leave-one-source-out" or args.train_arch):
        raise SystemExit(
            "--aggregation, --floor-grid and --from-scores need --protocol leave-one-source-out "
            "and a published version (not --train-arch)"
        )
    if args.robustness and args.train_arch:
        raise SystemExit("--robustness needs a published version (not --train-arch)")
    if (args.train_self_blend or args.train_augment) and not args.train_arch:
        raise SystemExit("--train-self-blend and --train-augment need --train-arch")
    if args.protocol == "leave-one-source-out":
        from model_export import protocol

        train = None
        if args.train_arch:
            from model_export.face_export import FaceConfig
            from model_export.train import TrainConfig
            from model_export.training_run import PipelineConfig

            size = (args.train_input_size, args.train_input_size)
            train = PipelineConfig(
                data=(), output=args.model, faces=FaceConfig(),
                train=TrainConfig(input_size=size, epochs=args.train_epochs,
                                  arch=args.train_arch, seed=args.seed,
                                  augment=args.train_augment),
                self_blend=args.train_self_blend, blend_draws=args.train_blend_draws,
                frames_per_video=args.train_frames, val_fraction=0.2, test_fraction=0.0,
                cache_dir=args.cache_dir, kind="loso-fold",
            )  # fmt: skip
        try:
            floors = args.floor_grid
            if floors is not None and not floors:
                from model_export.calibration import FLOOR_GRID

                floors = list(FLOOR_GRID)
            report, output = protocol.evaluate_loso(
                args.model, args.data, args.frames, args.output,
                resamples=args.bootstrap, seed=args.seed, train=train,
                aggregation=args.aggregation, floors=floors, from_scores=args.from_scores,
                robustness=args.robustness, robustness_per_group=args.robustness_per_group,
            )  # fmt: skip
        except (FileNotFoundError, ValueError) as error:
            raise SystemExit(str(error)) from error
        print_lines(protocol.summary_lines(report, output))
        _print_robustness(report)
        return 0
    from model_export.evaluate import summary_lines
    from model_export.evaluate_report import evaluate_to_report

    try:
        summary, output = evaluate_to_report(
            args.model, args.data, args.frames, args.output,
            robustness=args.robustness, robustness_per_group=args.robustness_per_group,
        )  # fmt: skip
    except FileNotFoundError as error:
        raise SystemExit(str(error)) from error
    print_lines(summary_lines(summary, output))
    _print_robustness(summary)
    return 0


def _print_robustness(report: dict) -> None:
    if report.get("robustness"):
        from model_export.robustness import summary_lines as robustness_lines

        print_lines(robustness_lines(report["robustness"]))
