"""What the gateway knows of Serving's models: which one to ask, and what it answered.

Plain data, no gRPC: the detection stages and the routes use these without touching the
wire format, which stays in :mod:`gateway.upstream.serving_client`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import contract
from contract.combination import MemberCombination


@dataclass(frozen=True)
class ModelRef:
    """Which model to ask: a name and at most one of a version or a label."""

    name: str
    version: int | None = None
    label: str | None = None

    def pinned(self, version: int) -> ModelRef:
        """This model at exactly ``version`` (-1, a version Serving did not name: unchanged):
        what every later call about one video asks, once a version has answered."""
        return self if version < 0 else ModelRef(self.name, version=version)


@dataclass(frozen=True)
class Prediction:
    """The outputs of one Predict call and the version that computed them."""

    name: str
    #: -1 when Serving did not say which version answered.
    version: int
    outputs: dict[str, np.ndarray]


@dataclass(frozen=True)
class OperatingPoint:
    """One named threshold a version lists (``model_info``'s ``operating_points``)."""

    name: str
    #: On the calibrated scale the version's scores are on.
    threshold: float
    #: What the version says about the point besides its name and threshold (its rates and
    #: their intervals, the videos they were measured on); empty when it says nothing.
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionDescription:
    """What a version's ``model_info`` signature says about it, and which version said it."""

    name: str
    #: None when Serving did not say which version answered.
    version: int | None
    threshold: float
    #: The shorter frame side the version needs; 0 when any size will do.
    frame_min_side: int
    #: Faces per window of the version's sequence head; 0 when it has none.
    sequence_length: int
    #: What the version says it is (``demo``, ``detector``); ``unknown`` when it does not say.
    kind: contract.ModelKind = contract.MODEL_KIND_UNKNOWN
    #: An ensemble's member names, in the order of its member outputs; None otherwise.
    members: tuple[str, ...] | None = None
    #: The side of the square face crop the version's classifier was trained at; 0 when
    #: it does not say (whole-frame versions, older exports).
    face_input_side: int = 0
    #: The version's named thresholds; a version that lists none has ``balanced`` alone, its
    #: ``threshold``.
    operating_points: tuple[OperatingPoint, ...] = ()
    #: ``sha256:<hex>`` of the version's SavedModel, as its export wrote it into
    #: ``model_info``; None when it reports none (older exports, other tools).
    digest: str | None = None
    #: The rate ``classify_audio`` takes (``model_info``'s ``audio_sample_rate``); 0 when the
    #: version has no audio-visual member.
    audio_sample_rate: int = 0
    #: How the audio-visual member's score joins the video score (``audio_combination``);
    #: the identity (reported, not joined) when the version has none.
    audio_combination: MemberCombination = field(default_factory=MemberCombination)
    #: How the talking-head member's score joins the video score (``motion_combination``),
    #: joined before the audio-visual member's; None when the version has no such member.
    motion_combination: MemberCombination | None = None
    #: The visual score's own threshold (``model_info``'s ``visual_threshold``) of a version
    #: whose track members join its verdict, for what no member joins (a live session);
    #: None when ``threshold`` is the visual score's.
    visual_threshold: float | None = None

    def points(self) -> tuple[OperatingPoint, ...]:
        """The operating points a request may choose between (never empty)."""
        if self.operating_points:
            return self.operating_points
        return (OperatingPoint(contract.OPERATING_POINT_BALANCED, self.threshold),)


@dataclass(frozen=True)
class ServedVersion:
    """One version Serving knows of a model, with its state (``AVAILABLE``, ``LOADING``...)."""

    version: int
    state: str
    #: Why the version failed to load, when it did.
    error: str
