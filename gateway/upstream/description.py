"""A version's description read from its answers: ``model_info`` and the shipped threshold.

The client asks a version what it is (:meth:`ServingClient.model_info
<gateway.upstream.serving_client.ServingClient.model_info>`); this module reads that answer
into a :class:`~gateway.upstream.serving_types.VersionDescription` (threshold, frame size,
sequence length, kind, members, operating points, digest, the audio-visual member's rate and
combination, the talking-head member's combination), and the threshold every
``serving_default`` answer ships.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import numpy as np

import contract
from contract.combination import VISUAL_THRESHOLD_OUTPUT, MemberCombination
from contract.motion import MOTION_COMBINATION_OUTPUT

from ..errors import InferenceFailed
from .serving_types import OperatingPoint, Prediction, VersionDescription

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
        audio_rate = (
            int(_first(answer.outputs, contract.AUDIO_SAMPLE_RATE_OUTPUT))
            if contract.AUDIO_SAMPLE_RATE_OUTPUT in answer.outputs
            else 0
        )
        combination = (
            read_combination(answer.outputs[contract.AUDIO_COMBINATION_OUTPUT])
            if contract.AUDIO_COMBINATION_OUTPUT in answer.outputs
            else MemberCombination()
        )
        motion = (
            read_combination(answer.outputs[MOTION_COMBINATION_OUTPUT])
            if MOTION_COMBINATION_OUTPUT in answer.outputs
            else None
        )
        visual_threshold = (
            float(_first(answer.outputs, VISUAL_THRESHOLD_OUTPUT))
            if VISUAL_THRESHOLD_OUTPUT in answer.outputs
            else None
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
        audio_sample_rate=max(0, audio_rate),
        audio_combination=combination,
        motion_combination=motion,
        visual_threshold=visual_threshold,
    )


def read_combination(output: np.ndarray) -> MemberCombination:
    """A ``*_combination`` output of ``model_info`` (float32 [N, 4], the same in every row);
    ValueError (or IndexError) when malformed."""
    return MemberCombination.from_row(np.asarray(output, np.float64).reshape(-1, 4)[0])


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
