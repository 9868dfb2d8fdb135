"""The publishing gate: a candidate goes live only if it loads, answers its warmup and, when
an evaluation set is named, its video-level ROC-AUC is not below the serving version's.

Loading and warmup are checked by :func:`model_export.publish.verify_version` for every
version; this module adds the comparison on an evaluation set.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from contract.sampling import DEFAULT_FRAMES_PER_VIDEO
from model_export import roc
from model_export.datasets import LabelledVideo
from model_export.evaluate import evaluate_version
from model_export.publish import existing_versions

log = logging.getLogger(__name__)


class GateRefused(RuntimeError):
    """The candidate scored below the serving version."""


def video_auc(version: Path, videos: Sequence[LabelledVideo], frames_per_video: int) -> float:
    """Video-level ROC-AUC of a version on ``videos``."""
    labels, scores = evaluate_version(version, videos, frames_per_video).video_arrays()
    return roc.roc_auc(labels, scores)


def auc_gate(
    model_dir: Path,
    videos: Sequence[LabelledVideo],
    frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO,
) -> Callable[[Path], dict[str, object]]:
    """A gate for :func:`publish_directory` comparing against the highest version in ``model_dir``.

    TF Serving's default policy serves the highest version, so that is the one to beat.
    """

    def gate(candidate: Path) -> dict[str, object]:
        candidate_auc = video_auc(candidate, videos, frames_per_video)
        versions = existing_versions(Path(model_dir))
        facts: dict[str, object] = {"videos": len(videos), "candidate_video_auc": candidate_auc}
        if not versions:
            log.info("gate: no serving version; candidate AUC %.4f", candidate_auc)
            return facts
        serving = versions[-1]
        serving_auc = video_auc(Path(model_dir) / str(serving), videos, frames_per_video)
        facts |= {"serving_version": serving, "serving_video_auc": serving_auc}
        log.info(
            "gate: candidate AUC %.4f vs serving version %d AUC %.4f",
            candidate_auc,
            serving,
            serving_auc,
        )
        if math.isnan(candidate_auc) or (
            not math.isnan(serving_auc) and candidate_auc < serving_auc
        ):
            raise GateRefused(
                f"candidate video AUC {candidate_auc:.4f} is below serving version {serving}'s "
                f"{serving_auc:.4f}; not published"
            )
        return facts

    return gate
