"""What the gateway knows of Serving's models: which one to ask, and what it answered.

Plain data, no gRPC: the detection stages and the routes use these without touching the
wire format, which stays in :mod:`gateway.serving_client`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import contract


@dataclass(frozen=True)
class ModelRef:
    """Which model to ask: a name and at most one of a version or a label."""

    name: str
    version: int | None = None
    label: str | None = None


@dataclass(frozen=True)
class Prediction:
    """The outputs of one Predict call and the version that computed them."""

    name: str
    #: -1 when Serving did not say which version answered.
    version: int
    outputs: dict[str, np.ndarray]


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


@dataclass(frozen=True)
class ServedVersion:
    """One version Serving knows of a model, with its state (``AVAILABLE``, ``LOADING``...)."""

    version: int
    state: str
    #: Why the version failed to load, when it did.
    error: str
