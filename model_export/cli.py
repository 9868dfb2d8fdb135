"""Command line of ``python -m model_export``: parses arguments and dispatches.

Each command hands its arguments to the module that does the work and prints what it
returns; modules are imported per command, so ``--help`` starts without TensorFlow.
Most of its length is the declaration of the commands' options and their help.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from contract.sampling import DEFAULT_FRAME_COUNT
from model_export.paths import model_base_path, model_name

log = logging.getLogger("model_export")

DEFAULT_DEMO_DATA = Path("var/demo-data")
TRAIN_ARCHS = (
    "small_cnn",
    "meso4",
    "mesoinception4",
    "efficientnet_b0",
    "efficientnet_lite0",
    "cnn_gru",
)


def _add_target_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-base-path",
        type=Path,
        default=model_base_path(),
        help="directory holding one folder per model (env MODEL_BASE_PATH, default %(default)s)",
    )
    parser.add_argument(
        "--model-name",
        default=model_name(),
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
    _add_demo_args(demo)

    default = commands.add_parser(
        "default-model",
        help="publish the best detector obtainable when the model folder holds no version",
        description=(
            "When the model folder holds no version, download MesoNet's published weights "
            "from their authors' repository (pinned commit, sha256 verified), import them "
            "face-aware with the default threshold (no labelled data to calibrate on) and "
            "publish them; when that fails for any reason, build the DEMO model instead. "
            "Versions already present are left alone."
        ),
    )
    _add_target_args(default)
    from model_export.default_model import (
        DEFAULT_ARCH,
        DEFAULT_TIMEOUT_S,
        DEFAULT_URL_ENV,
        MESONET_WEIGHTS,
        default_url,
    )

    default.add_argument(
        "--url",
        default=default_url(),
        help=(
            f"base URL the weight files are fetched under; empty: no download (env "
            f"{DEFAULT_URL_ENV}, default %(default)s)"
        ),
    )
    default.add_argument(
        "--arch", choices=sorted(MESONET_WEIGHTS), default=DEFAULT_ARCH, help="(%(default)s)"
    )
    default.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds per connect or read before giving up (%(default)s)",
    )
    _add_demo_args(default)

    meso = commands.add_parser(
        "import-mesonet",
        help="publish MesoNet from its published Keras .h5 weights, face-aware",
        description=(
            "Rebuild Meso-4 or MesoInception-4, load published weights (weights only, layers "
            "matched by numeric suffix), turn its P(REAL) output into a fake probability, and "
            "publish it face-aware (in-graph MTCNN, crops, MesoNet) as the next version."
        ),
    )
    meso.add_argument("--weights", type=Path, required=True, help="published .h5 weights file")
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
        default=0.2,
        help="face crop margin per side, as a fraction of the box (%(default)s)",
    )
    _add_eval_args(meso)

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
        "--whole-frames",
        action="store_true",
        help="classify whole frames instead of detected faces",
    )
    train.add_argument("--folds", type=int, default=0, help="k-fold cross-validation first")
    train.add_argument(
        "--frames", type=int, default=DEFAULT_FRAME_COUNT, help="frames per video (%(default)s)"
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
        "--frames", type=int, default=DEFAULT_FRAME_COUNT, help="frames per video (%(default)s)"
    )
    ensemble.add_argument("--version", type=int, default=None, help="explicit version number")

    evaluate = commands.add_parser(
        "evaluate",
        help="measure a published version on labelled videos",
        description=(
            "Score labelled videos with a published version through a TF1 session (as TF "
            "Serving runs it): accuracy, precision, recall, F1, ROC-AUC and log-loss at frame "
            "and video level, ROC and confusion-matrix PNGs, per-video CSV. With --protocol "
            "leave-one-source-out, every immediate subfolder of a data root is a source: for "
            "each source, calibration and threshold are fitted on the other sources and the "
            "source is scored with them; pooled video ROC-AUC, log-loss and accuracy with "
            "bootstrap 95% intervals, per manipulation kind and per source (loso.json, loso.md)."
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
        "--frames", type=int, default=DEFAULT_FRAME_COUNT, help="frames per video (%(default)s)"
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
        "--train-augment", action="store_true", help="fold models train with augmentation"
    )
    evaluate.add_argument("--cache-dir", type=Path, default=Path("var/face-cache"))
    return parser


def _add_demo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=15, help="demo training epochs (%(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DEMO_DATA,
        help="cache of synthesised demo clips (%(default)s)",
    )
    parser.add_argument(
        "--clips-per-source",
        type=int,
        default=32,
        help="demo REAL/FAKE clip pairs per photograph (%(default)s)",
    )


def _add_eval_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--calibrate-data",
        type=Path,
        nargs="+",
        default=None,
        help="labelled data to fit the Platt calibration and the threshold on (video level)",
    )
    parser.add_argument(
        "--gate-data",
        type=Path,
        nargs="+",
        default=None,
        help="publish only if video AUC here is not below the serving version's",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=DEFAULT_FRAME_COUNT,
        help="frames per video for calibration and gate (%(default)s)",
    )
    parser.add_argument("--version", type=int, default=None, help="explicit version number")


def _print_lines(lines: Sequence[str]) -> None:
    for line in lines:
        print(line)


def cmd_import_mesonet(args: argparse.Namespace) -> int:
    """Import published MesoNet weights and publish them face-aware."""
    from model_export.mesonet import import_mesonet

    path, threshold = import_mesonet(
        args.weights,
        args.arch,
        args.output,
        threshold=args.threshold,
        margin=args.margin,
        calibrate_data=args.calibrate_data,
        gate_data=args.gate_data,
        frames_per_video=args.frames,
        version=args.version,
    )
    print(f"published {args.arch} from {args.weights.name} at {path} (threshold {threshold:.4f})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
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
        folds=args.folds,
        cache_dir=args.cache_dir,
        gate_data=tuple(args.gate_data),
        tune_trials=args.tune,
        sequence_length=args.sequence_length,
    )  # fmt: skip
    path, report = run(config)
    print(f"published {args.arch} at {path} (threshold {report['threshold']:.4f})")
    _print_lines(summary_lines(report))
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    """Build, fit and publish an ensemble of face classifiers."""
    from model_export.ensemble import publish_ensemble

    path, info = publish_ensemble(
        args.member,
        args.output,
        margin=args.margin,
        calibrate_data=args.calibrate_data,
        frames_per_video=args.frames,
        version=args.version,
    )
    weights = ", ".join(
        f"{name} {weight:+.3f}"
        for name, weight in zip(info["member_names"], info["combination"]["weights"], strict=True)
    )
    print(f"published ensemble at {path} (threshold {info['threshold']:.4f}; weights {weights})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a version and write the report (LOSO with ``--protocol``)."""
    if args.train_arch and args.protocol != "leave-one-source-out":
        raise SystemExit("--train-arch needs --protocol leave-one-source-out")
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
                self_blend=args.train_self_blend,
                frames_per_video=args.train_frames, val_fraction=0.2, test_fraction=0.0,
                cache_dir=args.cache_dir, kind="loso-fold",
            )  # fmt: skip
        try:
            report, output = protocol.evaluate_loso(
                args.model, args.data, args.frames, args.output,
                resamples=args.bootstrap, seed=args.seed, train=train,
            )  # fmt: skip
        except (FileNotFoundError, ValueError) as error:
            raise SystemExit(str(error)) from error
        _print_lines(protocol.summary_lines(report, output))
        return 0
    from model_export.evaluate import evaluate_to_report, summary_lines

    try:
        summary, output = evaluate_to_report(args.model, args.data, args.frames, args.output)
    except FileNotFoundError as error:
        raise SystemExit(str(error)) from error
    _print_lines(summary_lines(summary, output))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
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
    _print_lines(demo_lines(result))
    return 0


def cmd_default_model(args: argparse.Namespace) -> int:
    """Publish the downloaded detector, or the demo, when the model folder holds no version."""
    from model_export.default_model import default_model_lines, ensure_default_model
    from model_export.demo import build_demo, demo_lines

    built = []

    def demo(model_dir: Path) -> Path:
        result = build_demo(
            model_dir,
            data_dir=args.data_dir,
            clips_per_source=args.clips_per_source,
            epochs=args.epochs,
            seed=args.seed,
        )
        built.append(result)
        assert result.path is not None
        return result.path

    result = ensure_default_model(
        args.model_base_path / args.model_name,
        fallback=demo,
        base_url=args.url,
        arch=args.arch,
        timeout_s=args.timeout,
    )
    _print_lines(default_model_lines(result))
    for demo_result in built:
        _print_lines(demo_lines(demo_result))
    return 0


COMMANDS = {
    "demo": cmd_demo,
    "default-model": cmd_default_model,
    "ensemble": cmd_ensemble,
    "import-mesonet": cmd_import_mesonet,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    return COMMANDS[args.command](args)
