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
validation videos must come from sources no member trained on. When track members are
joined (:mod:`model_export.member_fit`), the threshold is chosen again on the joined scores of
the same videos, the score the gateway decides on; the visual one is kept in the export info.

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

import numpy as np
import tensorflow as tf

import contract
from contract.combination import MemberCombination, combine_member
from contract.motion import MOTION_SIGNATURE
from contract.sampling import DEFAULT_FRAMES_PER_VIDEO
from model_export import roc
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
from model_export.member_fit import MemberScores, fit_member_combination
from model_export.publish import publish_archive, version_info
from model_export.track_member_versions import TrackMember, load_track_member
from model_export.track_scoring import TrackedVideo, track_videos

log = logging.getLogger(__name__)


def _member_scores(
    tracked: list[TrackedVideo], member: TrackMember, visual: list[float], *, audio: bool
) -> tuple[MemberScores, list[float | None]]:
    """The member's score of every video it can score (a track; with ``audio``, sound too)
    beside that video's ``visual`` score, and each video's member score (None: not scored)."""
    rows, scored = [], []
    for video, score in zip(tracked, visual, strict=True):
        if video.frames is None or (audio and video.wave is None):
            scored.append(None)
            continue
        inputs = [tf.constant(video.frames[None]), tf.constant(video.boxes[None])]
        if audio:
            inputs.insert(0, tf.constant(video.wave[None]))
        value = float(member.classify(*inputs).numpy()[0])
        scored.append(value)
        rows.append((score, value, video.label))
    return (
        MemberScores(
            np.array([r[0] for r in rows], float),
            np.array([r[1] for r in rows], float),
            np.array([r[2] for r in rows], int),
            len(tracked) - len(rows),
        ),
        scored,
    )


def _joined(
    visual: list[float], scores: list[float | None], combination: MemberCombination
) -> list[float]:
    """Each video's score joined with the member's, where the member scored it."""
    return [
        v if m is None else combine_member(v, m, combination)
        for v, m in zip(visual, scores, strict=True)
    ]


def _track_member_info(member: TrackMember, combination: MemberCombination, fit: dict) -> dict:
    """What the export info records of a track member and its join."""
    row = dict(zip(("visual", "member", "bias", "floor"), combination.as_row(), strict=True))
    return {"member": {"name": member.name, **member.source}, "combination": row,
            **({"fit": fit} if fit else {})}  # fmt: skip


def build_ensemble(
    specs: Sequence[str],
    *,
    margin: float = 0.2,
    calibrate_data: Sequence[Path] | None = None,
    frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO,
    audio_member: Path | None = None,
    motion_member: Path | None = None,
) -> tuple[EnsembleGraph, dict[str, Any]]:
    """Load the members, fit their combination (or weigh them equally) and build the graph.

    Track members are embedded with their signatures: ``motion_member`` (a version with
    ``classify_motion``) and ``audio_member`` (one with ``classify_audio``). How each one's
    score joins the video score is fitted on ``calibrate_data``'s videos after the visual
    combination (:mod:`model_export.member_fit`): the talking-head member's first, on the
    visual scores, then the audio-visual member's, on the videos with sound and the scores
    the first join gave, the order the gateway joins them in. Without such videos a member
    is reported, not joined. Returns the graph and the export info of the ensemble.
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
    motion = load_track_member(motion_member, MOTION_SIGNATURE) if motion_member else None
    audio = load_track_member(audio_member, contract.AUDIO_SIGNATURE) if audio_member else None
    motion_combination, motion_report = MemberCombination(), {}
    visual_threshold: float | None = None
    audio_combination, audio_report = MemberCombination(), {}
    if (audio is not None or motion is not None) and calibrate_data:
        graph = EnsembleGraph(members, combination, threshold, faces)
        tracked = track_videos(
            graph.outputs, videos, frames_per_video, threshold, with_audio=audio is not None
        )
        visual = [t.visual for t in tracked]
        if motion is not None:
            seen, motion_scores = _member_scores(tracked, motion, visual, audio=False)
            motion_combination, motion_report = fit_member_combination(seen)
            log.info("fitted the talking-head member's combination", extra=motion_report)
            visual = _joined(visual, motion_scores, motion_combination)
        if audio is not None:
            heard, audio_scores = _member_scores(tracked, audio, visual, audio=True)
            audio_combination, audio_report = fit_member_combination(heard)
            log.info("fitted the audio member's combination", extra=audio_report)
            visual = _joined(visual, audio_scores, audio_combination)
        if not (motion_combination.is_identity and audio_combination.is_identity):
            # The gateway decides on the joined score: its threshold is chosen on those.
            labels = np.array([t.label for t in tracked], int)
            joined_threshold = roc.best_threshold(labels, np.array(visual, float))
            report["joined"] = {
                "visual_threshold": threshold,
                "threshold": joined_threshold,
                "video": roc.binary_metrics(labels, np.array(visual), joined_threshold).as_dict(),
            }
            log.info("threshold chosen on the joined scores", extra=report["joined"])
            visual_threshold, threshold = threshold, joined_threshold
    info = {
        "kind": "ensemble",
        "arch": "ensemble",
        "member_names": [m.name for m in members],
        "members": [member_info(m) for m in members],
        "combination": combination.as_dict(),
        "calibrated_on": [str(p) for p in calibrate_data or []],
        **({"calibration": report} if report else {}),
        **(
            {"motion": _track_member_info(motion, motion_combination, motion_report)}
            if motion is not None
            else {}
        ),
        **(
            {"audio": _track_member_info(audio, audio_combination, audio_report)}
            if audio is not None
            else {}
        ),
    }
    graph = EnsembleGraph(members, combination, threshold, faces, audio, audio_combination,
                          motion, motion_combination, visual_threshold)  # fmt: skip
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
    motion_member: Path | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Build the ensemble of ``specs`` and publish it as the next version under ``output``."""
    graph, info = build_ensemble(
        specs,
        margin=margin,
        calibrate_data=calibrate_data,
        frames_per_video=frames_per_video,
        audio_member=audio_member,
        motion_member=motion_member,
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
