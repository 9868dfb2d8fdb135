"""Reading Serving's answers: per-frame (and per-face) results, thresholds, face crops.

The one place that knows the output tensors of ``serving_default``
(:mod:`contract` names them): its answers become frame results, and a version's kind
becomes the warnings a detection carries (:func:`model_warnings`). ``model_info`` answers
are read below, in :mod:`gateway.upstream.description`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import contract
from contract.aggregation import SEQUENCE_AGGREGATION, Aggregation, FrameResult, frame_results

from ..errors import InferenceFailed, UnknownOperatingPoint
from ..upstream.description import read_threshold
from ..upstream.serving_types import OperatingPoint, Prediction, VersionDescription
from .video import SampledFrame, letterbox_box_scale

#: Told with every detection by the demo version: its verdicts mean nothing about real videos.
DEMO_WARNING = (
    "the demo model is not a deepfake detector: it was trained on synthetic clips of two "
    "faces to check the service end to end, and its verdicts say nothing about real videos; "
    "publish a real detector (python -m model_export default-model or import-mesonet)"
)


#: An ensemble's per-member outputs of ``serving_default``.
_MEMBER_OUTPUTS = (contract.MEMBER_FAKE_PROBABILITY, contract.MEMBER_FRAME_FAKE_PROBABILITY)


@dataclass
class ScoredFrames:
    """The model's per-frame answers for one video, before tracks and a verdict."""

    frames: list[FrameResult]
    face_aware: bool
    threshold: float
    #: Face crops ``[N, F, S, S, 3]`` of face-aware sequence versions, else None.
    crops: np.ndarray | None


def model_warnings(kind: str) -> list[str]:
    """What a detection answered by a version of ``kind`` must warn about; empty for
    detectors and for versions that do not say what they are."""
    return [DEMO_WARNING] if kind == contract.MODEL_KIND_DEMO else []


def read_frames(
    frames: list[SampledFrame], predictions: list[Prediction], default_threshold: float
) -> ScoredFrames:
    """Per-frame (and per-face) results from the ``serving_default`` answers, in order.

    Raises :class:`InferenceFailed` when the answers do not score every frame.
    """

    def cat(key: str) -> np.ndarray | None:
        if any(key not in p.outputs for p in predictions):
            return None
        return np.concatenate([np.atleast_1d(p.outputs[key]) for p in predictions])

    scores = cat(contract.FAKE_PROBABILITY)
    if scores is None or scores.shape[0] != len(frames):
        raise InferenceFailed(
            f"model output {contract.FAKE_PROBABILITY!r} is missing or has the wrong shape"
        )
    threshold = read_threshold(predictions[0].outputs, default_threshold)
    outputs = {
        key: value
        for key in (contract.FAKE_PROBABILITY, *contract.FACE_OUTPUTS, *_MEMBER_OUTPUTS)
        if (value := cat(key)) is not None
    }
    assert contract.FACE_BOXES not in outputs or all(
        key in outputs for key in contract.FACE_OUTPUTS
    )
    # Boxes come normalised to the image sent; report them on the picture.
    results, face_aware = frame_results(
        outputs,
        [f.t_s for f in frames],
        box_scales=[letterbox_box_scale(f) for f in frames],
        digits=4,
    )
    crops = cat(contract.FACE_CROPS) if face_aware else None
    return ScoredFrames(results, face_aware, threshold, crops)


def member_names(
    description: VersionDescription | None, frames: list[FrameResult]
) -> tuple[str, ...] | None:
    """The names of the members whose scores ``frames`` carry; None when there are none.

    The names come from the version's ``model_info``; an ensemble that answers member scores
    without naming them (or names another number of them) is malformed.
    """
    counts = {len(f.members) for f in frames if f.members is not None}
    if not counts:
        return None
    names = description.members if description is not None else None
    if names is None or counts != {len(names)}:
        raise InferenceFailed(
            f"the version's member outputs do not match the {contract.MEMBER_NAMES!r} "
            f"of its {contract.MODEL_INFO_SIGNATURE!r}"
        )
    return names


def read_sequence_scores(answer: Prediction, rows: int) -> np.ndarray:
    """One score per window from a ``classify_sequence`` answer to ``rows`` windows."""
    scores = np.asarray(answer.outputs[contract.FAKE_PROBABILITY]).reshape(-1)
    if scores.shape[0] != rows:
        raise InferenceFailed(
            f"{contract.SEQUENCE_SIGNATURE!r} answered {scores.shape[0]} scores "
            f"for {rows} sequences"
        )
    return scores


def choose_operating_point(
    name: str | None, description: VersionDescription | None, aggregation: Aggregation
) -> OperatingPoint | None:
    """The operating point ``name`` of the answering version; None for the shipped threshold.

    A version without ``model_info`` lists ``balanced`` alone (the threshold its answers
    ship). The points are thresholds of the frame and face scores' video score, so a sequence
    head (which ships its own threshold) has ``balanced`` alone too. Raises
    :class:`UnknownOperatingPoint` naming the points available.
    """
    if name is None:
        return None
    if aggregation == SEQUENCE_AGGREGATION or description is None:
        available = (contract.OPERATING_POINT_BALANCED,)
    else:
        points = {p.name: p for p in description.points()}
        if name in points:
            return points[name]
        available = tuple(points)
    if name == contract.OPERATING_POINT_BALANCED:
        return None
    why = " with aggregation 'sequence'" if aggregation == SEQUENCE_AGGREGATION else ""
    raise UnknownOperatingPoint(
        f"operating_point {name!r} is not one of the answering version's{why}; "
        f"choose from: {', '.join(available)}"
    )
