"""What several commands share: option groups, the architectures, printing."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

from contract.sampling import DEFAULT_FRAMES_PER_VIDEO
from model_export.paths import model_base_path, model_name

#: The sub-command table commands add themselves to.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

DEFAULT_DEMO_DATA = Path("var/demo-data")
TRAIN_ARCHS = (
    "small_cnn",
    "meso4",
    "mesoinception4",
    "efficientnet_b0",
    "efficientnet_lite0",
    "cnn_gru",
)


def add_target_args(parser: argparse.ArgumentParser) -> None:
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


def add_demo_args(parser: argparse.ArgumentParser) -> None:
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


def add_eval_args(parser: argparse.ArgumentParser) -> None:
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
        default=DEFAULT_FRAMES_PER_VIDEO,
        help="frames per video for calibration and gate (%(default)s)",
    )
    parser.add_argument("--version", type=int, default=None, help="explicit version number")


def print_lines(lines: Sequence[str]) -> None:
    for line in lines:
        print(line)
