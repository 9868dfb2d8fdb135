"""``python -m model_export default-model``: the best detector at hand, when none is published."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import Commands, add_demo_args, add_target_args, print_lines


def add(commands: Commands) -> None:
    """Declare the command and its options."""
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
    add_target_args(default)
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
    add_demo_args(default)
    default.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
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
    print_lines(default_model_lines(result))
    for demo_result in built:
        print_lines(demo_lines(demo_result))
    return 0
