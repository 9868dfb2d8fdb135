"""Reading Serving's answers: per-frame (and per-face) results, thresholds, face crops.

The one place that knows the output tensors of a version's signatures
(:mod:`contract` names them): ``serving_default`` answers become frame results,
``model_info`` answers become a :class:`~gateway.serving_types.VersionDescription`, and a
version's kind becomes the warnings a detection carries (:func:`model_warnings`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

import contract
from contract.aggregation import SEQUENCE_AGGREGATION, Aggregation, FrameResult, frame_results

from .errors import InferenceFailed, UnknownOperatingPoint
from .serving_types import OperatingPoint, Prediction, VersionDescription
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


#: What a written ``model_digest`` looks like (``model_export.digest``).
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _first(outputs: Mapping[str, np.ndarray], key: str) -> np.generic:
    # Per-version values come repeated once per row; the first row says it.
    return np.asarray(outputs[key]).reshape(-1)[0]


def read_threshold(outputs: Mapping[str, np.ndarray], default: float | None = None) -> float:
    """The threshold an answer ships (the same in every row), else ``default``.

    Raises ``KeyError`` when the answer ships none and there is no default.
    """
    if contract.THRESHOLD not in outputs and default is not None:
        return default
    return float(_first(outputs, contract.THRESHOLD))


def read_description(answer: Prediction) -> VersionDescription:
    """A version's ``model_info`` answer; :class:`InferenceFailed` when it is malformed."""
    try:
        threshold = read_threshold(answer.outputs)
        side = int(_first(answer.outputs, contract.FRAME_MIN_SIDE))
        length = (
            int(_first(answer.outputs, contract.SEQUENCE_LENGTH))
            if contract.SEQUENCE_LENGTH in answer.outputs
            else 0
        )
        # Versions exported before model_kind existed (or elsewhere) do not say: unknown.
        kind = contract.model_kind_name(
            int(_first(answer.outputs, contract.MODEL_KIND))
            if contract.MODEL_KIND in answer.outputs
            else None
        )
        face_side = (
            int(_first(answer.outputs, contract.FACE_INPUT_SIDE))
            if contract.FACE_INPUT_SIDE in answer.outputs
            else 0
        )
        members = (
            tuple(str(n) for n in np.asarray(answer.outputs[contract.MEMBER_NAMES])[0])
            if contract.MEMBER_NAMES in answer.outputs
            else None
        )
        points = (
            read_operating_points(str(_first(answer.outputs, contract.OPERATING_POINTS)))
            if contract.OPERATING_POINTS in answer.outputs
            else ()
        )
        digest = (
            read_model_digest(str(_first(answer.outputs, contract.MODEL_DIGEST)))
            if contract.MODEL_DIGEST in answer.outputs
            else None
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        signature = contract.MODEL_INFO_SIGNATURE
        raise InferenceFailed(f"the version's {signature!r} answer is malformed") from exc
    return VersionDescription(
        name=answer.name,
        version=answer.version if answer.version >= 0 else None,
        threshold=threshold,
        frame_min_side=max(0, side),
        sequence_length=max(0, length),
        kind=kind,
        members=members,
        operating_points=points,
        face_input_side=max(0, face_side),
        digest=digest,
    )


def read_model_digest(text: str) -> str | None:
    """The ``model_digest`` of a ``model_info`` answer: ``sha256:<64 hex>``; None for anything
    else (the placeholder of a SavedModel whose digest was never written in, say)."""
    return text if _DIGEST.fullmatch(text) else None


def read_operating_points(text: str) -> tuple[OperatingPoint, ...]:
    """The ``operating_points`` JSON of a ``model_info`` answer; ValueError when malformed
    (a list of objects, each with a unique ``name`` and a ``threshold`` in [0, 1])."""
    items = json.loads(text)
    if not isinstance(items, list):
        raise ValueError("operating_points is not a list")
    points = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("an operating point is not an object")
        threshold = float(item["threshold"])
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"operating point threshold {threshold} is outside [0, 1]")
        details = {k: v for k, v in item.items() if k not in ("name", "threshold")}
        points.append(OperatingPoint(str(item["name"]), threshold, details))
    if len({p.name for p in points}) != len(points):
        raise ValueError("operating point names repeat")
    return tuple(points)


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
    name: str | None, description: VersionDescription | None, strategy: Aggregation
) -> OperatingPoint | None:
    """The operating point ``name`` of the answering version; None for the shipped threshold.

    A version without ``model_info`` lists ``balanced`` alone (the threshold its answers
    ship). The points are thresholds of the frame and face scores' video score, so a sequence
    head (which ships its own threshold) has ``balanced`` alone too. Raises
    :class:`UnknownOperatingPoint` naming the points available.
    """
    if name is None:
        return None
    if strategy == SEQUENCE_AGGREGATION or description is None:
        available = (contract.OPERATING_POINT_BALANCED,)
    else:
        points = {p.name: p for p in description.points()}
        if name in points:
            return points[name]
        available = tuple(points)
    if name == contract.OPERATING_POINT_BALANCED:
        return None
    why = " with aggregation 'sequence'" if strategy == SEQUENCE_AGGREGATION else ""
    raise UnknownOperatingPoint(
        f"operating_point {name!r} is not one of the answering version's{why}; "
        f"choose from: {', '.join(available)}"
    )
