"""``python -m model_export train``: train a detector on labelled videos and publish it."""

from __future__ import annotations

import argparse
from pathlib import Path

from contract.sampling import DEFAULT_FRAMES_PER_VIDEO

from ._common import TRAIN_ARCHS, Commands, print_lines


def add(commands: Commands) -> None:
    """Declare the command and its options."""
    train = commands.add_parser(
        "train",
        help="train on labelled videos and publish through the gate",
        description=(
            "Ingest labelled videos (FF++ layout, DFDC metadata.json, real/ and fake/ folders, "
            "or labels.csv), split them by source video, extract face crops once with the "
            "served detector into a resumable cache, train, calibrate the threshold on "
            "validation, test, and publish the next version (face-aware unless --whole-frames)."
        ),
    )
    train.add_argument("--data", type=Path, nargs="+", required=True, help="data set roots")
    train.add_argument(
        "--output",
        type=Path,
        required=True,
        help="model directory to publish into, e.g. models/deepfake",
    )
    train.add_argument(
        "--arch",
        default="small_cnn",
        choices=TRAIN_ARCHS,
        help=(
            "efficientnet_lite0: ImageNet-pretrained, fine-tuned in stages (head, then the last "
            "blocks at a lower learning rate); cnn_gru: per-face CNN + GRU over each video's "
            "faces in time order (%(default)s)"
        ),
    )
    train.add_argument(
        "--sequence-length",
        type=int,
        default=8,
        help="faces per sequence of cnn_gru (%(default)s)",
    )
    train.add_argument(
        "--tune",
        type=int,
        default=0,
        metavar="N",
        help="Keras Tuner random search of N trials (learning rate, dropout, width) first",
    )
    train.add_argument(
        "--input-size",
        type=int,
        default=None,
        help="square input side (default 224 for efficientnet_lite0, else 128)",
    )
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--dropout", type=float, default=0.3)
    train.add_argument("--patience", type=int, default=4, help="early stopping (0 = off)")
    train.add_argument(
        "--augment", action="store_true", help="flip, tilt, colour, JPEG, blur and down-scaling"
    )
    train.add_argument(
        "--self-blend",
        action="store_true",
        help=(
            "train on self-blended pseudo-fakes of the real faces, new ones every epoch "
            "(labelled fakes are left out unless --mix-fakes)"
        ),
    )
    train.add_argument(
        "--mix-fakes",
        action="store_true",
        help="with --self-blend, mix the labelled fakes into the training set",
    )
    train.add_argument(
        "--blend-draws",
        type=int,
        default=4,
        help="with --self-blend, new pseudo-fakes of each real face per epoch (%(default)s)",
    )
    train.add_argument(
        "--whole-frames",
        action="store_true",
        help="classify whole frames instead of detected faces",
    )
    train.add_argument("--folds", type=int, default=0, help="k-fold cross-validation first")
    train.add_argument(
        "--frames",
        type=int,
        default=DEFAULT_FRAMES_PER_VIDEO,
        help="frames per video (%(default)s)",
    )
    train.add_argument("--val-fraction", type=float, default=0.2)
    train.add_argument("--test-fraction", type=float, default=0.2)
    train.add_argument("--cache-dir", type=Path, default=Path("var/face-cache"))
    train.add_argument(
        "--gate-data",
        type=Path,
        nargs="+",
        default=(),
        help="publish only if video AUC here is not below the serving version's",
    )
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the training pipeline and print what it measured."""
    from model_export.face_export import FaceConfig
    from model_export.train import TrainConfig
    from model_export.training_run import PipelineConfig, run, summary_lines

    size = args.input_size or (224 if args.arch == "efficientnet_lite0" else 128)
    config = PipelineConfig(
        data=tuple(args.data),
        output=args.output,
        train=TrainConfig(
            input_size=(size, size), epochs=args.epochs,
            batch_size=args.batch_size, learning_rate=args.learning_rate,
            dropout=args.dropout, seed=args.seed, arch=args.arch, augment=args.augment,
            patience=args.patience,
        ),
        faces=None if args.whole_frames else FaceConfig(),
        frames_per_video=args.frames,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        self_blend=args.self_blend,
        mix_fakes=args.mix_fakes,
        blend_draws=args.blend_draws,
        folds=args.folds,
        cache_dir=args.cache_dir,
        gate_data=tuple(args.gate_data),
        tune_trials=args.tune,
        sequence_length=args.sequence_length,
    )  # fmt: skip
    path, report = run(config)
    print(f"published {args.arch} at {path} (threshold {report['threshold']:.4f})")
    print_lines(summary_lines(report))
    return 0
