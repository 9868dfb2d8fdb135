"""Motion stage: a version's talking-head member asked about the upload's longest face track.

Only a version whose ``model_info`` ships ``motion_combination`` (:mod:`contract.motion`) has
the member. Once the visual frames are scored it is asked, with one row, about the frames and
boxes the audio-visual member is sent too (:func:`gateway.pipeline.track_members.member_faces`),
from which its graph computes the motion features. A clip with no face track inside the
window, or a still image (one frame holds no motion), leaves the score null and the verdict as
it is; the pipeline joins a score to the verdict by the version's ``motion_combination``,
before the audio-visual member's (:func:`gateway.pipeline.track_members.join_members`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from contract.motion import MOTION_SIGNATURE

from ..motion_schemas import MotionSummary
from ..upstream.serving_client import ServingClient
from ..upstream.serving_types import ModelRef, VersionDescription
from .answers import ScoredFrames
from .detection_types import Progress
from .probe import VideoInfo
from .timing import StageTimer
from .track_members import member_faces, read_member_score
from .video import SampledFrame

log = logging.getLogger(__name__)

#: The stage's name in ``timings_ms``, ``gateway_stage_seconds`` and a job's progress.
MOTION_STAGE = "motion"


def takes_motion(description: VersionDescription | None) -> bool:
    """Whether the version has a talking-head member (``model_info``'s ``motion_combination``)."""
    return description is not None and description.motion_combination is not None


async def score_motion(
    client: ServingClient, model: ModelRef, frames: list[SampledFrame], scored: ScoredFrames
) -> float | None:
    """The member's fake probability for the upload's faces; None when no face track lies in
    the window. ``model`` is the pinned version that scored the frames. A malformed answer
    raises :class:`~gateway.errors.InferenceFailed`, as the audio-visual member's does."""
    inputs = member_faces(frames, scored)
    if inputs is None:
        log.info("motion not scored: no face track inside the window")
        return None
    images, boxes = inputs
    answer = await client.classify_motion(model, images[None, ...], boxes[None, ...])
    return read_member_score(answer, MOTION_SIGNATURE)


@dataclass(frozen=True)
class MotionOutcome:
    """What the motion stage found: the answer's block (None: the version has no talking-head
    member), the member's score if it scored, and the seconds its call took."""

    summary: MotionSummary | None = None
    score: float | None = None
    seconds: float = 0.0


async def motion_stage(
    client: ServingClient,
    model: ModelRef,
    info: VideoInfo,
    description: VersionDescription | None,
    frames: list[SampledFrame],
    scored: ScoredFrames,
    *,
    timer: StageTimer,
    progress: Progress,
) -> MotionOutcome:
    """The talking-head member's score and the answer's ``motion`` block, the call timed as
    its own stage (:data:`MOTION_STAGE`); nothing is asked of a version without the member."""
    if not takes_motion(description):
        return MotionOutcome()
    if info.kind != "video":
        return MotionOutcome(MotionSummary())
    progress.stage(MOTION_STAGE)
    start = time.perf_counter()
    with timer.stage(MOTION_STAGE):
        score = await score_motion(client, model, frames, scored)
    return MotionOutcome(MotionSummary(score=score), score, time.perf_counter() - start)
