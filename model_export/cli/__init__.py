"""Command line of ``python -m model_export``: parses arguments and dispatches.

One module per command declares its options (``add``) and runs it (``run``), handing its
arguments to the module that does the work and printing what it returns; those modules are
imported per command, so ``--help`` starts without TensorFlow.

Commands: ``demo`` (build and publish the demo model), ``default_model`` (the best detector
at hand, or fitting its calibration), ``import_mesonet`` (published MesoNet weights,
face-aware), ``train`` (a detector from labelled videos), ``train_motion`` (the
talking-head member), ``ensemble`` (several face
classifiers as one version), ``evaluate`` (score a version, or leave one source out);
``_common`` holds the option groups, architectures and printing several of them share.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import default_model, demo, ensemble, evaluate, import_mesonet, train, train_motion
from ._common import TRAIN_ARCHS

__all__ = ["TRAIN_ARCHS", "build_parser", "main"]

log = logging.getLogger("model_export")

#: In the order ``--help`` lists them.
_COMMANDS = (demo, default_model, import_mesonet, train, train_motion, ensemble, evaluate)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all sub-commands."""
    parser = argparse.ArgumentParser(
        prog="python -m model_export",
        description="Train, evaluate and publish deepfake detectors as versioned SavedModels.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    for command in _COMMANDS:
        command.add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    return args.run(args)
