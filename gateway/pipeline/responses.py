"""A pipeline result as the body of ``/v1/detect`` and of a finished job's ``result``.

The one response builder: the sync route and the job worker both turn a
:class:`~gateway.pipeline.detection_types.DetectionResult` into a
:class:`~gateway.schemas.DetectionResponse` here, with its signed receipt when the gateway
holds receipt keys.
"""

from __future__ import annotations

from contract import AUDIO_MEMBER, MODEL_KIND_UNKNOWN
from contract.motion import MOTION_MEMBER

from ..audio_schemas import AudioSummary
from ..logs import request_id_var
from ..motion_schemas import MotionSummary
from ..provenance_schemas import Provenance
from ..receipt_keys import ReceiptKeys
from ..schemas import (
    AppliedOperatingPoint,
    DetectionResponse,
    FaceExplanation,
    FaceResult,
    ModelInfo,
    Robustness,
    ScoreInterval,
    TimelinePoint,
    Timings,
    TrackResult,
    TransformScore,
    VideoSummary,
)
from .answers import model_warnings
from .detection_types import DetectionResult, DetectOptions
from .receipts import with_receipt
from .timing import StageTimer


def detection_response(
    result: DetectionResult,
    opts: DetectOptions,
    *,
    media_sha256: str | None = None,
    receipt_keys: ReceiptKeys | None = None,
) -> DetectionResponse:
    """The body of ``/v1/detect`` (and a job's ``result``) for one pipeline result.

    With ``receipt_keys`` and the media's ``media_sha256`` it carries a signed ``receipt``.
    """
    body = _response_body(result, opts, result.timer)
    if receipt_keys is None or media_sha256 is None or result.config is None:
        return body
    return with_receipt(
        body,
        opts,
        config=result.config,
        media_sha256=media_sha256,
        description=result.description,
        keys=receipt_keys,
    )


def _response_body(
    result: DetectionResult, opts: DetectOptions, timer: StageTimer
) -> DetectionResponse:
    info = result.info
    kind = result.description.kind if result.description is not None else MODEL_KIND_UNKNOWN
    names = result.member_names or ()

    def by_member(scores: list[float] | None) -> dict[str, float] | None:
        if not names or scores is None:
            return None
        return {name: round(score, 4) for name, score in zip(names, scores, strict=True)}

    members = result.members
    audio = result.audio or AudioSummary(present=False)
    timeline = [
        TimelinePoint(
            t_s=f.t_s,
            score=round(f.score, 4),
            faces=[
                FaceResult(
                    box=face.box,
                    score=face.score,
                    detection_score=face.detection_score,
                    track=face.track,
                    members=by_member(face.members),
                )
                for face in f.faces
            ],
        )
        for f in result.frames
    ]
    return DetectionResponse(
        verdict=result.verdict.verdict,
        score=round(result.verdict.score, 4),
        threshold=round(result.verdict.threshold, 4),
        operating_point=AppliedOperatingPoint(
            name=result.operating_point, threshold=round(result.verdict.threshold, 4)
        ),
        aggregation=result.aggregation,
        model=ModelInfo(
            name=result.model_name, version=result.version, label=opts.model.label, kind=kind
        ),
        frames_analyzed=len(result.frames),
        video=VideoSummary(
            kind=info.kind,
            duration_s=round(info.duration_s, 3),
            fps=round(info.fps, 3),
            width=info.width,
            height=info.height,
            rotation=info.rotation,
            frames_sampled=len(result.frames),
        ),
        tracks=[
            TrackResult(
                id=t.id,
                score=round(t.score, 4),
                frames=t.frames,
                members=by_member(members.tracks.get(t.id) if members is not None else None),
                explanations=(
                    [FaceExplanation(**vars(e)) for e in result.explanations.get(t.id, [])]
                    if result.explanations is not None
                    else None
                ),
            )
            for t in result.verdict.tracks
        ],
        timeline=timeline,
        timings_ms=Timings(
            **{
                k: round(timer.ms.get(k, 0.0), 2)
                for k in ("upload", "probe", "decode", "inference", "aggregate", "total")
            },
            sequence=round(timer.ms["sequence"], 2) if "sequence" in timer.ms else None,
            motion=round(timer.ms["motion"], 2) if "motion" in timer.ms else None,
            provenance=round(timer.ms["provenance"], 2) if "provenance" in timer.ms else None,
            explain=round(timer.ms["explain"], 2) if "explain" in timer.ms else None,
            robustness=round(timer.ms["robustness"], 2) if "robustness" in timer.ms else None,
        ),
        request_id=request_id_var.get(),
        warnings=[*model_warnings(kind), *(result.warnings or [])],
        score_interval=(
            ScoreInterval(
                low=round(interval.low, 4), high=round(interval.high, 4), level=interval.level
            )
            if (interval := result.verdict.interval) is not None
            else None
        ),
        reasons=list(result.reasons),
        provenance=result.provenance or Provenance(present=False),
        members=_with_track_members(
            by_member(members.video if members is not None else None), result.motion, audio
        ),
        audio=audio,
        motion=result.motion,
        robustness=_robustness(result),
    )


def _with_track_members(
    members: dict[str, float] | None, motion: MotionSummary | None, audio: AudioSummary
) -> dict[str, float] | None:
    """The members' scores with the talking-head and audio-visual members', when they scored
    (in the order they join the verdict)."""
    track = {MOTION_MEMBER: motion.score if motion is not None else None, AUDIO_MEMBER: audio.score}
    scored = {name: round(score, 4) for name, score in track.items() if score is not None}
    if not scored:
        return members
    return {**(members or {}), **scored}


def _robustness(result: DetectionResult) -> Robustness | None:
    probe = result.robustness
    if probe is None:
        return None
    return Robustness(
        transforms=[
            TransformScore(
                name=s.transform.name,
                description=s.transform.describe(),
                score=round(s.score, 4),
                verdict=s.verdict,
                delta=round(s.delta, 4),
            )
            for s in probe.scores
        ],
        complete=probe.complete,
        max_abs_delta=None if probe.max_abs_delta is None else round(probe.max_abs_delta, 4),
        verdict_flips=probe.flips(result.verdict.verdict),
    )
