"""Detection: named, timed stages from an uploaded file to a verdict.

    probe (+ model_info) -> decode (thread) ─┬─> infer (batches to Serving, as frames arrive;
                                             │   face-aware: detect on keyframes, then score
                                             │   every frame at the boxes, gateway.keyframes)
                                             └── batches are in flight while later frames decode
                            -> [sequence: a sequence head scores the face tracks] -> aggregate
                                                         (+ each ensemble member's scores)
                            -> [explain: the tracks' most suspicious faces, Grad-CAM maps]
    provenance (thread, from the start): the upload's content credentials, beside the verdict

``model_info`` names the version that will score the video (every batch is pinned to
it) and the frame size it needs, so frames are decoded no larger than that.

Every stage is timed into ``gateway_stage_seconds{stage=...}`` and the response. The
stages themselves live in their own modules (:mod:`~gateway.probe`,
:mod:`~gateway.decoder`, :mod:`~gateway.answers`, :mod:`contract.aggregation`); this
one orders them and decides what a hot swap mid-video means.

Over 400 lines because that order and that decision share one state (the version pinned for
the video, and which one answered); split, each half would need the other's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import contract
from contract.aggregation import (
    DEFAULT_STRATEGY,
    SEQUENCE_STRATEGY,
    FrameResult,
    MemberScores,
    Strategy,
    Track,
    Verdict,
    decide,
    link_tracks,
    member_scores,
    whole_frame_track,
)
from contract.reasons import ReasonCode, bits_per_pixel, verdict_reasons

from . import metrics
from .answers import (
    ScoredFrames,
    member_names,
    read_frames,
    read_sequence_scores,
    read_threshold,
)
from .budget import DecodeLimits
from .decoder import ThreadedDecoder
from .errors import AggregationUnavailable, InvalidVideo, ModelNotFound, UnknownOperatingPoint
from .explain import NO_EXPLAIN_WARNING, Explanation, explain_tracks
from .keyframes import KeyframePlan, keyframe_scorer
from .probe import VideoInfo, VideoLimits
from .provenance import Provenance, ProvenanceReader
from .serving_client import ServingClient
from .serving_types import ModelRef, OperatingPoint, Prediction, VersionDescription
from .settings import Settings, get_settings
from .sources import probe_upload, upload_media_type
from .timing import StageTimer
from .video import SampledFrame, sample_times

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectOptions:
    """What one request asks for."""

    model: ModelRef
    frames: int
    rate: float | None
    #: None: ``sequence`` when the version has a sequence head, else the frame default.
    strategy: Strategy | None
    batch_size: int
    max_side: int
    default_threshold: float
    canvas: int | None
    decode_threads: bool
    #: Explain each track's ``explain_per_track`` most suspicious faces (``explain=true``).
    explain: bool = False
    explain_per_track: int = 3
    #: Side in pixels of the explanations' PNG images.
    explain_side: int = 112
    #: Where faces are detected (face-aware versions with ``detect_faces``).
    keyframes: KeyframePlan = field(default_factory=KeyframePlan)
    #: The named threshold to decide with; None: the version's shipped one (``balanced``).
    operating_point: str | None = None


@dataclass
class DetectionResult:
    """What the stages found: the video, its per-frame results and the verdict."""

    info: VideoInfo
    frames: list[FrameResult]
    verdict: Verdict
    model_name: str
    version: int
    face_aware: bool
    #: The aggregation that decided (the one asked for, or the version's default).
    strategy: Strategy
    #: The answering version's ``model_info``; None when it has none.
    description: VersionDescription | None = None
    #: The upload's content credentials; never an input to the verdict.
    provenance: Provenance | None = None
    #: An ensemble's member names and each member's scores; None for other versions.
    member_names: tuple[str, ...] | None = None
    members: MemberScores | None = None
    #: Per track id, its explained faces (``explain=true`` and the version explains);
    #: None when not asked for or not available.
    explanations: dict[int, list[Explanation]] | None = None
    #: What the stages have to warn about (besides the version's kind).
    warnings: list[str] | None = None
    #: The name of the operating point whose threshold decided.
    operating_point: str = contract.OPERATING_POINT_BALANCED
    #: The reason codes of :mod:`contract.reasons` that apply to the verdict.
    reasons: list[ReasonCode] = field(default_factory=list)


def provenance_reader_from(settings: Settings) -> ProvenanceReader:
    """The content credentials reader ``settings`` give (``GATEWAY_C2PA_*``)."""
    return ProvenanceReader(
        trust_anchors=settings.c2pa_trust_anchors,
        # Within half the request's deadline: the credentials never make a detection time out.
        timeout_s=min(settings.c2pa_timeout_s, settings.request_timeout_s / 2),
        max_reads=2 * settings.max_in_flight,
        max_verify_bytes=settings.c2pa_max_verify_bytes,
    )


def decode_limits_from(settings: Settings) -> DecodeLimits:
    """The per-upload decoding limits ``settings`` give."""
    return DecodeLimits(
        cpu_s=settings.decode_cpu_s,
        max_pixels=settings.decode_max_pixels,
        timeout_s=settings.decode_deadline_s,
    )


def choose_operating_point(
    name: str | None, description: VersionDescription | None, strategy: Strategy
) -> OperatingPoint | None:
    """The operating point ``name`` of the answering version; None for the shipped threshold.

    A version without ``model_info`` lists ``balanced`` alone (the threshold its answers
    ship). The points are thresholds of the frame and face scores' video score, so a sequence
    head (which ships its own threshold) has ``balanced`` alone too. Raises
    :class:`UnknownOperatingPoint` naming the points available.
    """
    if name is None:
        return None
    if strategy == SEQUENCE_STRATEGY or description is None:
        available = (contract.OPERATING_POINT_BALANCED,)
    else:
        points = {p.name: p for p in description.points()}
        if name in points:
            return points[name]
        available = tuple(points)
    if name == contract.OPERATING_POINT_BALANCED:
        return None
    why = " with aggregation 'sequence'" if strategy == SEQUENCE_STRATEGY else ""
    raise UnknownOperatingPoint(
        f"operating_point {name!r} is not one of the answering version's{why}; "
        f"choose from: {', '.join(available)}"
    )


class DetectionPipeline:
    """Turns a video file (or a still image, as one frame) into a verdict by way of Serving."""

    def __init__(
        self,
        client: ServingClient,
        limits: VideoLimits,
        decode_limits: DecodeLimits | None = None,
        provenance: ProvenanceReader | None = None,
    ) -> None:
        """``decode_limits`` and ``provenance`` default to the process settings
        (``GATEWAY_DECODE_*``, ``GATEWAY_C2PA_*``)."""
        self.client = client
        self.limits = limits
        self.decode_limits = decode_limits or decode_limits_from(get_settings())
        self.provenance = provenance or provenance_reader_from(get_settings())

    async def run(self, path: Path, opts: DetectOptions, timer: StageTimer) -> DetectionResult:
        """Run every stage on the video at ``path``, timing each into ``timer``.

        The content credentials are read from the same file on their own thread meanwhile;
        they are reported with the result and take no part in the verdict.
        """
        # c2pa is told what the bytes are (an image's sniffed type; a video's it finds itself).
        media_type = await asyncio.to_thread(upload_media_type, path)
        credentials = asyncio.create_task(self.provenance.read(path, media_type))
        try:
            result = await self._detect(path, opts, timer)
            provenance, seconds = await credentials
        except BaseException:
            credentials.cancel()
            raise
        timer.add("provenance", seconds)
        result.provenance = provenance
        return result

    async def score(self, path: Path, opts: DetectOptions, timer: StageTimer) -> DetectionResult:
        """Every stage but the content credentials, which take no part in the verdict: a
        second opinion on a file whose credentials were read already."""
        return await self._detect(path, opts, timer)

    async def _detect(self, path: Path, opts: DetectOptions, timer: StageTimer) -> DetectionResult:
        with timer.stage("probe"):
            # The version is asked what it needs while the container is probed, so that
            # frames are decoded at its size and every batch goes to that one version.
            described = asyncio.create_task(self.client.model_info(opts.model))
            try:
                info = await asyncio.to_thread(probe_upload, path, self.limits)
            except BaseException:
                described.cancel()
                raise
            description = await described
        times = sample_times(info, opts.frames, opts.rate)
        frames, predictions, decode_s, infer_s, detect_s = await self._decode_and_infer(
            path, info, times, opts, description
        )
        timer.add("decode", decode_s)
        timer.add("inference", infer_s)
        if detect_s is not None:
            # Within inference: the keyframes' detect_faces calls, summed.
            timer.add("detect", detect_s)
        answered = predictions[0].version
        if (
            description is not None
            and description.version not in (None, answered)
            and answered >= 0
        ):
            # The pinned version went away mid-video and another one rescored the frames:
            # what decides (sequence head, threshold) must be that version's.
            description = await self.client.model_info(ModelRef(opts.model.name, version=answered))
        aggregate_start = time.perf_counter()
        scored = read_frames(frames, predictions, opts.default_threshold)
        strategy = self._strategy(opts, description, scored)
        tracks, threshold = None, scored.threshold
        point = choose_operating_point(opts.operating_point, description, strategy)
        if point is not None:
            threshold = point.threshold
        if strategy == SEQUENCE_STRATEGY:
            assert description is not None
            model = ModelRef(opts.model.name, version=answered) if answered >= 0 else opts.model
            sequence_start = time.perf_counter()
            tracks, threshold = await self._score_sequences(
                model, frames, scored, description.sequence_length
            )
            # The sequence head's call has its own histogram; it is not aggregation time.
            sequence_s = time.perf_counter() - sequence_start
            timer.add("sequence", sequence_s)
            aggregate_start += sequence_s
        verdict = decide(
            scored.frames,
            face_aware=scored.face_aware,
            threshold=threshold,
            strategy=strategy,
            tracks=tracks,
        )
        names = member_names(description, scored.frames)
        members = (
            member_scores(
                scored.frames, verdict.tracks, face_aware=scored.face_aware, strategy=strategy
            )
            if names is not None
            else None
        )
        reasons = verdict_reasons(
            verdict,
            scored.frames,
            face_aware=scored.face_aware,
            width=info.width,
            height=info.height,
            face_input_side=description.face_input_side if description is not None else 0,
            bits_per_pixel=bits_per_pixel(info.bitrate, info.width, info.height, info.fps),
        )
        timer.add("aggregate", time.perf_counter() - aggregate_start)
        metrics.FRAMES_ANALYZED.inc(len(frames))
        explanations, warnings = None, []
        if opts.explain:
            model = ModelRef(opts.model.name, version=answered) if answered >= 0 else opts.model
            with timer.stage("explain"):
                explanations = await explain_tracks(
                    self.client,
                    model,
                    frames,
                    scored,
                    verdict.tracks,
                    per_track=opts.explain_per_track,
                    side=opts.explain_side,
                )
            if explanations is None:
                warnings.append(NO_EXPLAIN_WARNING)
        return DetectionResult(
            info=info,
            frames=scored.frames,
            verdict=verdict,
            model_name=predictions[0].name,
            version=predictions[0].version,
            face_aware=scored.face_aware,
            strategy=strategy,
            description=description,
            member_names=names,
            members=members,
            explanations=explanations,
            warnings=warnings,
            operating_point=point.name if point is not None else contract.OPERATING_POINT_BALANCED,
            reasons=reasons,
        )

    async def _decode_and_infer(
        self,
        path: Path,
        info: VideoInfo,
        times: list[float],
        opts: DetectOptions,
        description: VersionDescription | None,
    ) -> tuple[list[SampledFrame], list[Prediction], float, float, float | None]:
        """Decode and score the frames; the last figure is the keyframe detection's seconds
        (None when faces were found by serving_default on every frame)."""
        decoder = ThreadedDecoder(
            path,
            info,
            times,
            batch_size=opts.batch_size,
            max_side=opts.max_side,
            min_side=description.frame_min_side if description is not None else 0,
            canvas=opts.canvas,
            threads=opts.decode_threads,
            limits=self.decode_limits,
        )
        decode_done = decoder.start()
        frames: list[SampledFrame] = []
        first: Prediction | None = None
        pending: list[asyncio.Task[Prediction]] = []
        model = opts.model
        if description is not None and description.version is not None:
            # One video is scored by one version: the one that described itself.
            model = ModelRef(model.name, version=description.version)
        infer_start: float | None = None
        scorer = keyframe_scorer(self.client, model, opts.keyframes, len(times), opts.batch_size)
        detect_s: float | None = None
        try:
            async for batch in decoder.batches():
                frames.extend(batch)
                if infer_start is None:
                    infer_start = time.perf_counter()
                if scorer is not None and await scorer.add(batch):
                    continue
                if scorer is not None:
                    # The version has no detect_faces: every frame goes to serving_default.
                    scorer = None
                    pending.append(asyncio.create_task(self._predict(model, frames[:])))
                elif model.version is None:
                    # No model_info: the first answer pins the version.
                    first = await self._predict(model, batch)
                    model = ModelRef(model.name, version=first.version)
                else:
                    pending.append(asyncio.create_task(self._predict(model, batch)))
            await decode_done
            if not frames:
                raise InvalidVideo("no frame could be decoded from the video stream")
            try:
                answers = await asyncio.gather(*pending)
                if scorer is not None:
                    answers = await scorer.finish()
                predictions = [first, *answers] if first is not None else answers
            except ModelNotFound:
                if model.version is None or opts.model.version is not None:
                    raise
                # The pinned version was unloaded mid-video (a hot swap): score all frames again.
                log.info("pinned version went away, rescoring", extra={"version": model.version})
                predictions = [await self._predict(opts.model, frames)]
        finally:
            decoder.stop()
            for task in pending:
                task.cancel()
            if scorer is not None:
                scorer.cancel()
                detect_s = scorer.detect_s
        infer_s = time.perf_counter() - infer_start if infer_start is not None else 0.0
        return frames, predictions, decoder.seconds, infer_s, detect_s

    async def _predict(self, model: ModelRef, batch: list[SampledFrame]) -> Prediction:
        stack = np.stack([f.image for f in batch])
        return await self.client.predict(model, {contract.FRAMES_INPUT: stack})

    @staticmethod
    def _strategy(
        opts: DetectOptions, description: VersionDescription | None, scored: ScoredFrames
    ) -> Strategy:
        """The strategy asked for, or the best the answering version supports."""
        length = description.sequence_length if description is not None else 0
        # Face-aware sequence versions hand out their crops; whole-frame ones read frames.
        can_sequence = length > 0 and (not scored.face_aware or scored.crops is not None)
        if opts.strategy is None:
            return SEQUENCE_STRATEGY if can_sequence else DEFAULT_STRATEGY
        if opts.strategy == SEQUENCE_STRATEGY and not can_sequence:
            raise AggregationUnavailable(
                "aggregation 'sequence' needs a version with a sequence head "
                f"({contract.SEQUENCE_SIGNATURE}); the answering version has none"
            )
        return opts.strategy

    async def _score_sequences(
        self,
        model: ModelRef,
        frames: list[SampledFrame],
        scored: ScoredFrames,
        length: int,
    ) -> tuple[list[Track], float]:
        """Score every track with the version's sequence head; return tracks and threshold.

        A track's images in time order (the graph's own face crops, or the frames of a
        whole-frame version) are cut into :func:`contract.sequence_windows`, as in training;
        all windows of all tracks go in one ``classify_sequence`` call, and a track's score
        is the mean over its windows.
        """
        if scored.face_aware:
            tracks = link_tracks(scored.frames)
            assert scored.crops is not None
            images = [scored.crops[t.frames, t.slots] for t in tracks]
        else:
            tracks = [whole_frame_track(scored.frames)]
            images = [np.stack([f.image for f in frames])]
        rows: list[np.ndarray] = []
        owner: list[int] = []
        for k, track_images in enumerate(images):
            for window in contract.sequence_windows(len(track_images), length):
                rows.append(track_images[window])
                owner.append(k)
        if not rows:
            return tracks, scored.threshold
        answer = await self.client.predict(
            model,
            {contract.FACES_INPUT: np.stack(rows)},
            signature=contract.SEQUENCE_SIGNATURE,
        )
        window_scores = read_sequence_scores(answer, len(rows))
        owners = np.asarray(owner)
        for k, track in enumerate(tracks):
            track.score = float(window_scores[owners == k].mean())
        return tracks, read_threshold(answer.outputs, scored.threshold)
