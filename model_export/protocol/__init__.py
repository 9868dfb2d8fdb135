"""Leave-one-source-out (LOSO) evaluation of a published version, with bootstrap intervals.

The labelled clips come in source folders (:attr:`LabelledVideo.source`); a **fold** holds
out one source, or a few held out together (:mod:`.folds`: one-label sources with others of
the same manipulation kind or origin, sources sharing identities together, so that each fold
holds both labels). The version was trained elsewhere (imported weights, the demo), so a fold
trains nothing: every step fitted on data (the Platt calibration and the decision threshold)
is fitted on the other folds' videos only, with the classes weighted to the deployment prior
(:data:`~model_export.calibration.DEPLOYMENT_FAKE_PRIOR`), and the held-out sources are scored
with them (:mod:`.fitting`). Weighting matters here: an unweighted fit learns its set's share
of fakes, and holding out a REAL-only source leaves a fit set rich in fakes that lifts the
held-out reals, so pooled figures would measure the sources' label mix.

Each video is scored once through the version's TF1 session (as TF Serving runs it); a
fold's calibration is applied to the stored frame and face scores and aggregated by the
gateway's rule (:func:`model_export.evaluate.rescore`), which is what the version would
serve with that calibration in its graph. For an architecture the pipeline trains
(:func:`train_loso`, ``evaluate --train-arch``), a fold trains one model on the other folds'
sources with the training run of ``train`` and scores the held-out ones with it as published.

Figures (:mod:`.metrics`, :mod:`.report`): video-level ROC-AUC, log-loss and accuracy of the
pooled held-out scores with 95% percentile bootstrap intervals over sources (the headline)
and over videos; the ROC-AUC within each fold and their mean; rows per manipulation kind
(:mod:`model_export.manipulations`) and per source; and the same for the version as shipped
(its own calibration and threshold, nothing fitted here). The reliability of the out-of-fold
shipped probabilities (fold calibration and the floor picked, :mod:`model_export.reliability`)
is reported beside them: binned probability against the share of fakes, ECE, Brier and
log-loss weighted to the deployment prior, intervals over sources.

Only :mod:`.run` (scoring on disk) needs TensorFlow; it is imported on first use, so the fold,
fitting and report logic runs on score arrays without it.
"""

from typing import Any

from model_export.protocol.fitting import (
    FloorChoice,
    FoldResult,
    LosoScores,
    array_scorer,
    floor_grid,
    run_folds,
    video_scorer_for,
)
from model_export.protocol.folds import FOLD_GROUPS, Fold, FoldGroup, check_groups, loso_folds
from model_export.protocol.metrics import (
    DEFAULT_RESAMPLES,
    kind_rows,
    metrics_with_ci,
    source_rows,
    within_fold,
)
from model_export.protocol.report import (
    NO_SKILL_LOG_LOSS,
    PROTOCOL,
    loso_report,
    markdown,
    summary_lines,
)

#: Names :mod:`.run` provides, imported when first asked for (it loads TensorFlow).
_RUN_NAMES = ("evaluate_loso", "load_video_results", "source_dirs", "train_loso")


def __getattr__(name: str) -> Any:
    if name in _RUN_NAMES:
        from model_export.protocol import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_RESAMPLES",
    "FOLD_GROUPS",
    "NO_SKILL_LOG_LOSS",
    "PROTOCOL",
    "FloorChoice",
    "Fold",
    "FoldGroup",
    "FoldResult",
    "LosoScores",
    "array_scorer",
    "check_groups",
    "evaluate_loso",
    "floor_grid",
    "kind_rows",
    "load_video_results",
    "loso_folds",
    "loso_report",
    "markdown",
    "metrics_with_ci",
    "run_folds",
    "source_dirs",
    "source_rows",
    "summary_lines",
    "train_loso",
    "video_scorer_for",
    "within_fold",
]
