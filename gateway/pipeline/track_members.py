"""What a version's track members share: the faces they are sent, how their answer reads
and the order their scores join the verdict.

A track member scores one face track rather than frames: the audio-visual member
(:mod:`gateway.pipeline.audio_member`, ``classify_audio``) and the talking-head member
(:mod:`gateway.pipeline.motion_member`, ``classify_motion``). Both are sent the same
selection, :data:`contract.audio.AUDIO_FACE_COUNT` frames of the longest face track inside
the audio window with the track's box in each (:func:`contract.audio.audio_track_frames`, the
one training uses), and their scores join the visual verdict in the order the version's
combinations were fitted in: the talking-head member first, then the audio-visual member on
the motion-joined scores (:mod:`contract.combination`).
"""

from __future__ import annotations

import numpy as np

import contract
from contract.aggregation import Verdict
from contract.audio import audio_track_frames
from contract.member_verdict import join_member

from ..errors import InferenceFailed
from ..upstream.serving_types import Prediction, VersionDescription
from .answers import ScoredFrames
from .video import SampledFrame


def member_faces(
    frames: list[SampledFrame], scored: ScoredFrames
) -> tuple[np.ndarray, np.ndarray] | None:
    """The frames and boxes a track member is sent, uint8 [T, H, W, 3] and float32 [T, 4]
    (:func:`contract.audio.audio_track_frames`); None when nothing lies inside the window."""
    picked = audio_track_frames(scored.frames, face_aware=scored.face_aware)
    if picked is None:
        return None
    rows, boxes = picked
    return np.stack([frames[i].image for i in rows]), np.asarray(boxes, np.float32)


def read_member_score(answer: Prediction, signature: str) -> float:
    """The one row's ``fake_probability`` of a track member's answer to ``signature``;
    :class:`InferenceFailed` when it is missing or outside [0, 1]."""
    try:
        score = float(np.asarray(answer.outputs[contract.FAKE_PROBABILITY]).reshape(-1)[0])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise InferenceFailed(f"the {signature!r} answer is malformed") from exc
    if not np.isfinite(score) or not 0.0 <= score <= 1.0:
        raise InferenceFailed(f"the {signature!r} score is outside [0, 1]")
    return score


def join_members(
    verdict: Verdict,
    description: VersionDescription | None,
    *,
    motion: float | None,
    audio: float | None,
) -> Verdict:
    """``verdict`` with the track members' scores joined by the version's combinations
    (:func:`contract.member_verdict.join_member`): the talking-head member's ``motion`` score
    first, then the audio-visual member's ``audio`` score. A member that did not score (None)
    leaves the verdict as it is."""
    if description is None:
        return verdict
    if motion is not None and description.motion_combination is not None:
        verdict = join_member(verdict, motion, description.motion_combination)
    if audio is not None:
        verdict = join_member(verdict, audio, description.audio_combination)
    return verdict
