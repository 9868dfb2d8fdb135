"""Fitting the default detector's shipped calibration on labelled clips.

``default-model --fit-calibration`` scores the clips with the uncalibrated default import
(:func:`score_default_import`), fits the floor, Platt parameters and threshold
(:func:`fit_default_calibration`) and prints them as the constants of
:mod:`model_export.default_model` (:func:`fitted_default_lines`).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from contract.sampling import DEFAULT_FRAMES_PER_VIDEO
from model_export.calibration import IDENTITY, Calibration
from model_export.default_download import DEFAULT_TIMEOUT_S
from model_export.default_model import DEFAULT_ARCH, DEFAULT_THRESHOLD, import_downloaded_mesonet

if TYPE_CHECKING:
    from model_export.evaluate import VideoResult

log = logging.getLogger(__name__)


def score_default_import(
    data: Sequence[Path],
    *,
    base_url: str,
    arch: str = DEFAULT_ARCH,
    frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[VideoResult]:
    """Score the labelled videos under ``data`` with the default import, uncalibrated.

    The pinned weights are fetched under ``base_url`` and imported exactly as
    :func:`ensure_default_model` imports them, but with the identity and
    :data:`DEFAULT_THRESHOLD`, into a scratch directory; every video is scored through a TF1
    session (:func:`model_export.evaluate.evaluate_version`).
    """
    from model_export.datasets import discover
    from model_export.evaluate import evaluate_version

    videos = discover(list(data))
    if not videos:
        raise FileNotFoundError(f"no labelled videos under {list(map(str, data))}")
    with tempfile.TemporaryDirectory(prefix="default-fit-") as scratch:
        path, _ = import_downloaded_mesonet(
            Path(scratch) / "deepfake",
            base_url=base_url,
            arch=arch,
            timeout_s=timeout_s,
            calibration=IDENTITY,
            threshold=DEFAULT_THRESHOLD,
        )
        return evaluate_version(path, videos, frames_per_video).videos


@dataclass(frozen=True)
class FittedDefault:
    """Constants fitted for the default (:func:`fit_default_calibration`)."""

    calibration: Calibration
    #: Video threshold on the calibrated scale.
    threshold: float
    #: Candidate floor -> pooled out-of-fold video log-loss of the fit set's folds.
    floor_log_loss: dict[float, float]
    videos: int
    sources: int
    #: The fold left out of everything, and its figures under the fitted constants.
    held_out: str | None = None
    held_out_figures: dict[str, float] | None = None


def fit_default_calibration(
    videos: Sequence[VideoResult],
    *,
    hold_out: str | None = None,
    grid: Sequence[float] | None = None,
) -> FittedDefault:
    """Fit the default's floor, Platt parameters and threshold on ``videos`` (uncalibrated
    scores of the default import).

    The floor is the candidate of ``grid`` (default :data:`calibration.FLOOR_GRID`) of lowest
    pooled out-of-fold log-loss over the protocol's folds
    (:func:`model_export.protocol.floor_grid`); Platt ``a``, ``b`` are then fitted with it on
    every video (:func:`model_export.calibration.fit_calibration`, classes weighted to the
    deployment prior, with its shrinkage) and the threshold maximises accuracy at that prior
    on the calibrated video scores. ``hold_out`` (a fold name of
    :func:`model_export.protocol.loso_folds`) leaves that fold out of all of it and reports
    its video log-loss, Brier score, ECE, ROC-AUC and accuracy under the fitted constants.
    """
    import numpy as np

    from model_export import roc
    from model_export.calibration import DEPLOYMENT_FAKE_PRIOR, FLOOR_GRID, fit_calibration
    from model_export.protocol import floor_grid, loso_folds, video_scorer_for

    held: list[int] = []
    if hold_out is not None:
        folds = {f.name: f for f in loso_folds([v.source for v in videos])}
        if hold_out not in folds:
            raise ValueError(f"no fold {hold_out!r}; folds: {sorted(folds)}")
        held = list(folds[hold_out].held_out)
    fit = [v for i, v in enumerate(videos) if i not in set(held)]
    labels = np.array([v.label for v in fit])
    sources = [v.source for v in fit]
    scorer_for = video_scorer_for(fit)
    choice = floor_grid(labels, sources, scorer_for, grid=grid or FLOOR_GRID)
    everything = scorer_for(range(len(fit)))
    calibration = fit_calibration(labels, everything, floor=choice.floor)
    threshold = roc.best_threshold(labels, everything(calibration))
    figures = None
    if held:
        y = np.array([videos[i].label for i in held])
        scores = video_scorer_for([videos[i] for i in held])(range(len(held)))(calibration)
        figures = {
            "videos": float(len(held)),
            "fake": float(y.sum()),
            "log_loss": roc.log_loss(y, scores),
            # A fold of mostly one class rewards scores near that class's side of 0.5.
            "log_loss_at_prior": roc.log_loss(y, scores, fake_prior=DEPLOYMENT_FAKE_PRIOR),
            "brier": roc.brier(y, scores),
            "ece": roc.expected_calibration_error(y, scores),
            "roc_auc": roc.roc_auc(y, scores),
            "accuracy": float(np.mean((scores >= threshold) == y.astype(bool))),
        }
    result = FittedDefault(
        calibration, float(threshold), choice.log_loss, len(fit), len(set(sources)),
        hold_out, figures,
    )  # fmt: skip
    log.info(
        "fitted the default's calibration",
        extra={"a": calibration.a, "b": calibration.b, "floor": calibration.floor,
               "threshold": threshold, "videos": len(fit), "held_out": hold_out,
               "held_out_figures": figures},
    )  # fmt: skip
    return result


def fitted_default_lines(fitted: FittedDefault) -> list[str]:
    """What ``default-model --fit-calibration`` prints: the constants, as Python lines."""
    grid = ", ".join(f"{f:g}: {v:.4f}" for f, v in fitted.floor_log_loss.items())
    lines = [
        f"# fitted on {fitted.videos} videos from {fitted.sources} sources"
        + (f", fold {fitted.held_out!r} held out" if fitted.held_out else ""),
        f"# pooled out-of-fold log-loss by floor: {grid}",
        f"SHIPPED_PLATT_A = {fitted.calibration.a:.6g}",
        f"SHIPPED_PLATT_B = {fitted.calibration.b:.6g}",
        f"SHIPPED_FLOOR = {fitted.calibration.floor:g}",
        f"SHIPPED_THRESHOLD = {fitted.threshold:.6g}",
        f"SHIPPED_FIT_VIDEOS = {fitted.videos}",
    ]
    if fitted.held_out_figures:
        f = fitted.held_out_figures
        lines.append(
            f"# held-out fold {fitted.held_out!r} ({int(f['videos'])} videos, "
            f"{int(f['fake'])} FAKE): log-loss {f['log_loss']:.4f} (a coin: 0.6931; classes "
            f"weighted to the deployment prior: {f['log_loss_at_prior']:.4f}), Brier "
            f"{f['brier']:.4f}, ECE {f['ece']:.4f}, ROC-AUC {f['roc_auc']:.4f}, accuracy "
            f"{f['accuracy']:.4f}"
        )
    return lines
