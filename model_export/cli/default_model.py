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
            "face-aware with the calibration and threshold pinned in "
            "model_export/default_model.py (fitted once on labelled clips: --fit-calibration) "
            "and publish them; when that fails for any reason, build the DEMO model instead. "
            "Versions already present are left alone."
        ),
    )
    add_target_args(default)
    from model_export.default_download import DEFAULT_TIMEOUT_S
    from model_export.default_model import (
        DEFAULT_ARCH,
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
    default.add_argument(
        "--fit-calibration",
        type=Path,
        nargs="+",
        default=None,
        metavar="DATA",
        help="publish nothing: score the labelled videos under DATA with the uncalibrated "
        "default import and print the calibration constants to pin in "
        "model_export/default_model.py (floor by out-of-fold log-loss, then Platt and "
        "threshold on every video)",
    )
    default.add_argument(
        "--hold-out",
        default=None,
        metavar="FOLD",
        help="with --fit-calibration: leave this protocol fold (e.g. speech-corpora) out of "
        "every fit and print its figures under the fitted constants",
    )
    default.add_argument(
        "--from-scores",
        type=Path,
        default=None,
        metavar="REPORT_DIR",
        help="with --fit-calibration: fit on the videos an evaluate --protocol "
        "leave-one-source-out run of the uncalibrated default import kept in REPORT_DIR "
        "(DATA is then not read)",
    )
    add_demo_args(default)
    default.set_defaults(run=run)


def fit(args: argparse.Namespace) -> int:
    """Print the default's calibration constants fitted on ``--fit-calibration`` data."""
    from model_export.default_fit import (
        fit_default_calibration,
        fitted_default_lines,
        score_default_import,
    )

    if args.from_scores is not None:
        from model_export.protocol import load_video_results

        videos, _ = load_video_results(args.from_scores)
    else:
        videos = score_default_import(
            args.fit_calibration, base_url=args.url, arch=args.arch, timeout_s=args.timeout
        )
    try:
        fitted = fit_default_calibration(videos, hold_out=args.hold_out)
    except ValueError as error:
        raise SystemExit(str(error)) from error
    print_lines(fitted_default_lines(fitted))
    return 0


def run(args: argparse.Namespace) -> int:
    """Publish the downloaded detector, or the demo, when the model folder holds no version."""
    if args.fit_calibration:
        return fit(args)
    if args.hold_out or args.from_scores:
        raise SystemExit("--hold-out and --from-scores need --fit-calibration")
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
