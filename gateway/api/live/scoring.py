"""Which version scores a live session, and one batch of its frames scored.

The version is resolved once, at the ``hello``, by its ``model_info`` as an upload's is
(:meth:`~gateway.upstream.serving_client.ServingClient.model_info`), and every batch is pinned to
it. A batch is scored by :func:`gateway.pipeline.keyframes.score_frames` (the upload's keyframe
schedule for face-aware versions, else ``serving_default``) and read by
:func:`gateway.pipeline.answers.read_frames`, so a live frame's scores are an upload frame's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

import contract
from contract.aggregation import DEFAULT_AGGREGATION, FRAME_AGGREGATIONS, Aggregation

from ...errors import InferenceFailed
from ...pipeline.answers import ScoredFrames, choose_operating_point, read_frames
from ...pipeline.keyframes import score_frames
from ...pipeline.pipeline_config import PipelineConfig
from ...upstream.description import read_threshold
from ...upstream.serving_client import ServingClient
from ...upstream.serving_types import ModelRef, VersionDescription
from .frames import FrameRule, LiveFrame

log = logging.getLogger(__name__)


@dataclass
class SessionModel:
    """The version that scores one session, pinned, and how its scores are decided."""

    model: ModelRef
    description: VersionDescription | None
    #: The threshold that decides (the operating point's, else the version's).
    threshold: float
    aggregation: Aggregation
    operating_point: str
    rule: FrameRule

    @property
    def version(self) -> int:
        assert self.model.version is not None
        return self.model.version


async def resolve_model(
    client: ServingClient,
    model: ModelRef,
    config: PipelineConfig,
    *,
    aggregation: Aggregation | None,
    operating_point: str | None,
) -> SessionModel:
    """The version ``model`` resolves to now, pinned, with its threshold and frame rule.

    Raises the upload's errors: :class:`~gateway.errors.ModelNotFound`, the upstream ones,
    :class:`~gateway.errors.UnknownOperatingPoint`.
    """
    description = await client.model_info(model)
    threshold = description.threshold if description is not None else config.default_threshold
    if description is not None and description.version is not None:
        pinned = model.pinned(description.version)
    else:
        # No model_info: one tiny frame asks which version answers (and its threshold).
        answer = await client.predict(
            model, {contract.FRAMES_INPUT: np.zeros((1, 32, 32, 3), np.uint8)}
        )
        pinned = model.pinned(answer.version)
        threshold = read_threshold(answer.outputs, config.default_threshold)
    # A live window is decided by the frame aggregations; a sequence head needs whole tracks.
    aggregation = aggregation if aggregation in FRAME_AGGREGATIONS else DEFAULT_AGGREGATION
    point = choose_operating_point(operating_point, description, aggregation)
    if point is not None:
        threshold = point.threshold
    # No track member joins a live verdict: its visual score meets the visual threshold,
    # not the joined score's balanced one.
    balanced = point is None or point.name == contract.OPERATING_POINT_BALANCED
    if balanced and description is not None and description.visual_threshold is not None:
        threshold = description.visual_threshold
    rule = FrameRule(
        max_side=config.max_side,
        min_side=description.frame_min_side if description is not None else 0,
        canvas=config.canvas,
    )
    return SessionModel(
        model=pinned,
        description=description,
        threshold=threshold,
        aggregation=aggregation,
        operating_point=point.name if point is not None else contract.OPERATING_POINT_BALANCED,
        rule=rule,
    )


async def score_batch(
    client: ServingClient, session: SessionModel, config: PipelineConfig, batch: list[LiveFrame]
) -> ScoredFrames:
    """The frames of ``batch`` (one image shape) scored by the session's version."""
    frames = [f.frame for f in batch]
    predictions = await score_frames(
        client, session.model, config.keyframes, config.batch_size, frames
    )
    answered = {p.version for p in predictions}
    if answered - {session.version, -1}:
        # Serving answered with another version than the one pinned: not this session's.
        raise InferenceFailed(f"Serving answered with version(s) {sorted(answered)}")
    return read_frames(frames, predictions, config.default_threshold)
