"""Several face classifiers as one face-aware version: one detector, one score, one threshold.

The ensemble's ``serving_default`` detects faces once (the in-graph MTCNN), cuts each
member's crops from the same boxes with that member's own size and margin, runs every
member, and combines their logits per face::

    logit = bias + sum_m weight_m * logit(p_m)        fake_probability = sigmoid(logit)

A frame's score is its most suspicious face, or the whole frame's when no face was found,
as in :mod:`model_export.face_export`. Besides the contract's outputs it returns each
member's scores, ``member_fake_probability`` [N, F, M] per face and
``member_frame_fake_probability`` [N, M] per frame, in the order of ``member_names``
(``model_info``) and of ``members`` in the export info.

Members are published face-aware versions (their ``classify_faces`` signature is embedded,
so scores are the version's own) or ``arch:weights`` specs built here (published MesoNet
``.h5`` weights, or a saved ``.keras`` model). The weights are fitted on labelled validation
videos by logistic regression on the members' logits (numpy), and the threshold is then
calibrated on the same videos' scores; without such videos the weights are equal
(``1 / M``) and the threshold is the members' thresholds averaged in logit space. The
validation videos must come from sources no member trained on.

Modules: the members (:mod:`model_export.ensemble_members`), the combination rule
(:mod:`model_export.ensemble_combination`), the graph that runs them
(:mod:`model_export.ensemble_graph`) and the fit (:mod:`model_export.ensemble_fit`); they
agree on the member order because one list of members is passed through all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contract.audio import AudioCombination
from contract.sampling import DEFAULT_FRAMES_PER_VIDEO
from model_export.audio_fit import fit_audio_combination, load_audio_member, score_with_audio
from model_export.datasets import discover
from model_export.ensemble_combination import Combination
from model_export.ensemble_fit import fit_combination, score_videos
from model_export.ensemble_graph import EnsembleGraph
from model_export.ensemble_members import (
    default_threshold,
    detection_of,
    load_member,
    member_info,
    unique_names,
)
from model_export.face_export import face_warmup_requests
from model_export.publish import publish_archive, version_info

log = logging.getLogger(__name__)


def build_ensemble(
    specs: Sequence[str],
    *,
    margin: float = 0.2,
    calibrate_data: Sequence[Path] | None = None,
    frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO,
    audio_member: Path | None = None,
) -> tuple[EnsembleGraph, dict[str, Any]]:
    """Load the members, fit their combination (or weigh them equally) and build the graph.

    With ``audio_member`` (a version with ``classify_audio``) the ensemble embeds it, and
    how its score joins the video score is fitted on ``calibrate_data``'s videos with sound
    after the visual combination (:mod:`model_export.audio_fit`); without such videos it is
    reported, not joined. Returns the graph and the export info of the ensemble.
    """
    if len(specs) < 2:
        raise ValueError("an ensemble needs at least two members")
    members = [load_member(spec, margin=margin) for spec in specs]
    unique_names(members)
    faces = detection_of(members)
    combination, threshold = Combination.equal(len(members)), default_threshold(members)
    report: dict[str, Any] = {}
    if calibrate_data:
        videos = discover(calibrate_data)
        if not videos:
            raise ValueError("no labelled videos to fit the ensemble on")
        if len({v.label for v in videos}) < 2:
            raise ValueError("fitting an ensemble needs REAL and FAKE videos")
        scores = score_videos(EnsembleGraph(members, combination, threshold, faces), videos,
                              frames_per_video)  # fmt: skip
        combination, threshold, report = fit_combination(scores)
        log.info(
            "fitted ensemble",
            extra={
                "weights": combination.weights,
                "bias": combination.bias,
                "threshold": threshold,
            },
        )
    audio = load_audio_member(audio_member) if audio_member is not None else None
    audio_combination, audio_report = AudioCombination(), {}
    if audio is not None and calibrate_data:
        graph = EnsembleGraph(members, combination, threshold, faces)
        heard = score_with_audio(graph.outputs, audio, videos, frames_per_video, threshold)
        audio_combination, audio_report = fit_audio_combination(heard)
        log.info("fitted the audio member's combination", extra=audio_report)
    info = {
        "kind": "ensemble",
        "arch": "ensemble",
        "member_names": [m.name for m in members],
        "members": [member_info(m) for m in members],
        "combination": combination.as_dict(),
        "calibrated_on": [str(p) for p in calibrate_data or []],
        **({"calibration": report} if report else {}),
        **(
            {
                "audio_member": {"name": audio.name, **audio.source},
                "audio_combination": dict(
                    zip(
                        ("visual", "audio", "bias", "floor"),
                        audio_combination.as_row(),
                        strict=True,
                    )
                ),
                **({"audio_fit": audio_report} if audio_report else {}),
            }
            if audio is not None
            else {}
        ),
    }
    graph = EnsembleGraph(members, combination, threshold, faces, audio, audio_combination)
    return graph, info


def publish_ensemble(
    specs: Sequence[str],
    output: Path,
    *,
    margin: float = 0.2,
    calibrate_data: Sequence[Path] | None = None,
    frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO,
    version: int | None = None,
    audio_member: Path | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Build the ensemble of ``specs`` and publish it as the next version under ``output``."""
    graph, info = build_ensemble(
        specs,
        margin=margin,
        calibrate_data=calibrate_data,
        frames_per_video=frames_per_video,
        audio_member=audio_member,
    )
    size = graph.members[0].input_size
    path = publish_archive(
        graph.archive,
        face_warmup_requests(output.name, size),
        output.parent,
        output.name,
        info=version_info(
            threshold=graph.threshold, input_size=size, faces=graph.faces.as_dict(), info=info
        ),
        version=version,
    )
    return path, {**info, "threshold": graph.threshold}
