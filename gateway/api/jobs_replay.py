"""Replay: a succeeded job's stored media scored again by another version, and the difference.

``POST /v1/jobs/{id}/replay?model_version=N`` decrypts the job's media (kept after the job
ends only with ``GATEWAY_JOB_KEEP_MEDIA``, and only until the job expires) into a temporary
upload, runs the detection pipeline on it with the job's own parameters but version ``N``,
and answers both answers with their difference: the video score and verdict, each track's
score and each frame's score on the timeline. Nothing is stored: the job keeps its result.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query

from ..errors import (
    UPSTREAM_ERRORS,
    AggregationUnavailable,
    JobHasNoResult,
    JobMediaGone,
    JobNotFound,
    Overloaded,
    UnknownOperatingPoint,
)
from ..jobs.models import JobStatus
from ..jobs.schemas import ReplayDifference, ReplayResponse, TimelineDifference, TrackDifference
from ..pipeline.params import DetectParams
from ..pipeline.responses import detection_response
from ..schemas import DetectionResponse
from .deps import AdmissionDep, PipelineDep, SettingsDep
from .error_responses import openapi_responses
from .jobs_routes import JOBS_ROUTE_ERRORS, JobsDep, Owner

router = APIRouter(tags=["jobs"])

_REPLAY_ERRORS = openapi_responses(
    *JOBS_ROUTE_ERRORS,
    JobNotFound,
    JobHasNoResult,
    JobMediaGone,
    Overloaded,
    AggregationUnavailable,
    UnknownOperatingPoint,
    *UPSTREAM_ERRORS,
)


def _scores(original: float | None, replay: float | None) -> dict[str, float | None]:
    delta = round(replay - original, 4) if original is not None and replay is not None else None
    return {"original": original, "replay": replay, "delta": delta}


def compare_answers(original: DetectionResponse, replay: DetectionResponse) -> ReplayDifference:
    """The difference of two answers for the same media: video score and verdict, tracks
    matched by id, timeline frames matched by time (an item only one answer has shows null
    on the other side)."""
    tracks_then = {t.id: t.score for t in original.tracks}
    tracks_now = {t.id: t.score for t in replay.tracks}
    # Keyed by the time to the millisecond; shown with the time each answer gave.
    frames_then = {round(p.t_s, 3): p for p in original.timeline}
    frames_now = {round(p.t_s, 3): p for p in replay.timeline}

    def frame(t: float) -> TimelineDifference:
        then, now = frames_then.get(t), frames_now.get(t)
        return TimelineDifference(
            t_s=(then or now).t_s,  # type: ignore[union-attr]
            **_scores(then.score if then else None, now.score if now else None),
        )

    return ReplayDifference(
        score_delta=round(replay.score - original.score, 4),
        verdict_changed=replay.verdict != original.verdict,
        tracks=[
            TrackDifference(id=i, **_scores(tracks_then.get(i), tracks_now.get(i)))
            for i in sorted(tracks_then.keys() | tracks_now.keys())
        ],
        timeline=[frame(t) for t in sorted(frames_then.keys() | frames_now.keys())],
    )


@router.post("/v1/jobs/{job_id}/replay", response_model=ReplayResponse, responses=_REPLAY_ERRORS)
async def replay_job(
    job_id: str,
    jobs: JobsDep,
    owner: Owner,
    settings: SettingsDep,
    pipeline: PipelineDep,
    admission: AdmissionDep,
    model_version: Annotated[int, Query(ge=1, description="Score the media with this version.")],
) -> ReplayResponse:
    """Score a succeeded job's media again with another version (while it is kept: see
    ``GATEWAY_JOB_KEEP_MEDIA``), and answer both answers with their difference."""
    job = await jobs.get(owner, job_id)
    if job.status == JobStatus.EXPIRED:
        raise JobMediaGone(f"job {job_id!r} expired: its media is gone")
    if job.status != JobStatus.SUCCEEDED or job.result is None:
        raise JobHasNoResult(f"job {job_id!r} is {job.status}: only a succeeded job is replayed")
    if job.wrapped_key is None or not await asyncio.to_thread(jobs.media.has, job.id):
        raise JobMediaGone(f"job {job_id!r}: its media was not kept after it ended")
    params = dataclasses.replace(
        DetectParams.from_dict(job.params), model_version=model_version, model_label=None
    )
    try:
        path = await asyncio.to_thread(
            jobs.media.decrypt_to_temp, job.id, job.wrapped_key, settings.var_dir / "uploads"
        )
    except FileNotFoundError as exc:  # expired meanwhile
        raise JobMediaGone(f"job {job_id!r}: its media is gone") from exc
    try:
        async with admission.slot():
            opts = params.options(settings)
            # A second opinion on a file answered before: its verdict was counted then.
            result = await pipeline.detect(
                path, opts, deadline_s=settings.request_timeout_s, count_verdict=False
            )
    finally:
        path.unlink(missing_ok=True)
    original = DetectionResponse.model_validate(job.result)
    replay = detection_response(result, opts)
    return ReplayResponse(
        job_id=job.id,
        original=original,
        replay=replay,
        difference=compare_answers(original, replay),
    )
