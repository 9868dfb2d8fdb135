"""Detection: named, timed stages from an uploaded file to a verdict.

    probe (+ model_info) -> decode (thread) ─┬─> infer (batches to Serving, as frames arrive;
                                             │   face-aware: detect on keyframes, then score
                                             │   every frame at the boxes, pipeline.keyframes)
                                             └── batches are in flight while later frames decode
                            -> [sequence: a sequence head scores the face tracks] -> aggregate
                                                         (+ each ensemble member's scores)
                            -> [explain: the tracks' most suspicious faces, Grad-CAM maps]
                            -> [robustness: re-encoded copies scored again (.robustness)]
    provenance (thread, from the start): the upload's content credentials, beside the verdict
    audio (thread, beside decode): the audio track, scored by an audio-visual member if any
    motion (after inference): the longest face track, scored by a talking-head member if any

``model_info`` names the version that will score the video (every batch is pinned to
it) and the frame size it needs, so frames are decoded no larger than that.

Every stage is timed into ``gateway_stage_seconds{stage=...}`` and the response. The
stages themselves live in their own modules (:mod:`~gateway.pipeline.probe`,
:mod:`~gateway.pipeline.decoder`, :mod:`~gateway.pipeline.answers`,
:mod:`contract.aggregation`); this one orders them and decides what a hot swap mid-video
means. What a detection takes and gives is in :mod:`~gateway.pipeline.detection_types`,
what the settings fix in :mod:`~gateway.pipeline.pipeline_config`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import numpy as np

import contract
from contract.aggregation import SEQUENCE_AGGREGATION, decide, member_scores
from contract.reasons import bits_per_pixel, verdict_reasons

from .. import metrics
from ..admission import Admission
from ..errors import InvalidVideo, ModelNotFound, ServingTimeout
from ..settings import Settings, get_settings
from ..upstream.serving_client import ServingClient, let_finish
from ..upstream.serving_types import ModelRef, Prediction, VersionDescription
from .answers import choose_operating_point, member_names, read_frames
from .audio_member import audio_stage, start_audio
from .budget import DecodeLimits
from .decoder import ThreadedDecoder
from .detection_types import DetectionResult, DetectOptions, Progress, Silent
from .explain import NO_EXPLAIN_WARNING, explain_tracks
from .keyframes import keyframe_scorer
from .motion_member import motion_stage
from .pipeline_config import (
    PipelineConfig,
    decode_limits_from,
    provenance_reader_from,
    video_limits_from,
)
from .probe import VideoInfo, VideoLimits
from .provenance import ProvenanceReader
from .robustness import check_probe_allowed, probe_robustness
from .sequence_head import choose_aggregation, score_sequences
from .sources import probe_upload, upload_media_type
from .timing import StageTimer
from .track_members import join_members
from .video import SampledFrame, sample_times_of

log = logging.getLogger(__name__)


class DetectionPipeline:
    """Turns a video file (or a still image, as one frame) into a verdict by way of Serving."""

    def __init__(
        self,
        client: ServingClient,
        limits: VideoLimits,
        config: PipelineConfig,
        decode_limits: DecodeLimits | None = None,
        provenance: ProvenanceReader | None = None,
        admission: Admission | None = None,
        threaded_decode: bool = True,
    ) -> None:
        """``decode_limits`` and ``provenance`` default to the process settings
        (``GATEWAY_DECODE_*``, ``GATEWAY_C2PA_*``). Frames are decoded on several threads
        when ``threaded_decode`` and fewer videos than cores are in ``admission`` (None:
        not counted)."""
        self.client = client
        self.limits = limits
        self.config = config
        self.decode_limits = decode_limits or decode_limits_from(get_settings())
        self.provenance = provenance or provenance_reader_from(get_settings())
        self.admission = admission
        self.threaded_decode = threaded_decode

    @classmethod
    def from_settings(
        cls, settings: Settings, client: ServingClient, *, admission: Admission | None = None
    ) -> DetectionPipeline:
        """The pipeline ``settings`` describe, scoring through ``client``."""
        return cls(
            client,
            video_limits_from(settings),
            PipelineConfig.from_settings(settings),
            decode_limits_from(settings),
            provenance_reader_from(settings),
            admission,
        )

    def with_client(
        self, client: ServingClient, *, threaded_decode: bool = True
    ) -> DetectionPipeline:
        """The same pipeline scoring through another ``client``."""
        return DetectionPipeline(
            client,
            self.limits,
            self.config,
            self.decode_limits,
            self.provenance,
            self.admission,
            threaded_decode,
        )

    async def detect(
        self,
        path: Path,
        opts: DetectOptions,
        *,
        deadline_s: float,
        timer: StageTimer | None = None,
        progress: Progress | None = None,
        read_credentials: bool = True,
        count_verdict: bool = True,
    ) -> DetectionResult:
        """Every stage on the file at ``path``, within ``deadline_s`` seconds.

        ``timer`` (started before, e.g. by the upload) gets each stage and the ``total``
        since it started; ``progress`` hears the stages and the frames scored. The content
        credentials are read from the same file on their own thread meanwhile
        (``read_credentials``); they are reported and take no part in the verdict. The
        verdict is counted in ``gateway_verdicts_total`` when ``count_verdict`` (a second
        opinion, such as a shadow's, is not). Raises :class:`ServingTimeout` past the deadline.
        """
        timer = timer if timer is not None else StageTimer()
        listener = progress if progress is not None else Silent()
        try:
            async with asyncio.timeout(deadline_s):
                if read_credentials:
                    result = await self._with_credentials(path, opts, timer, listener)
                else:
                    result = await self._detect(path, opts, timer, listener)
        except TimeoutError as exc:
            raise ServingTimeout(f"the video was not processed within {deadline_s:g} s") from exc
        if opts.robustness:
            with timer.stage("robustness"):
                result.robustness = await probe_robustness(
                    self.detect,
                    path,
                    opts,
                    result,
                    directory=self.config.scratch_dir or path.parent,
                    timeout_s=self.config.robustness_timeout_s,
                )
        timer.ms["total"] = timer.elapsed_ms()
        result.timer, result.config = timer, self.config
        if count_verdict:
            metrics.VERDICTS.labels(verdict=result.verdict.verdict).inc()
        return result

    async def _with_credentials(
        self, path: Path, opts: DetectOptions, timer: StageTimer, progress: Progress
    ) -> DetectionResult:
        # c2pa is told what the bytes are (an image's sniffed type; a video's it finds itself).
        media_type = await asyncio.to_thread(upload_media_type, path)
        credentials = asyncio.create_task(self.provenance.read(path, media_type))
        try:
            result = await self._detect(path, opts, timer, progress)
            provenance, seconds = await credentials
        except BaseException:
            credentials.cancel()
            raise
        timer.add("provenance", seconds)
        result.provenance = provenance
        return result

    def _decode_threads(self) -> bool:
        """Threaded decoding lowers latency while cores are idle, but costs CPU (about a
        quarter more) that other videos need once they are all busy."""
        if not self.threaded_decode:
            return False
        return self.admission is None or self.admission.in_flight < (os.cpu_count() or 1)

    async def _detect(
        self, path: Path, opts: DetectOptions, timer: StageTimer, progress: Progress
    ) -> DetectionResult:
        config = self.config
        progress.stage("probe")
        with timer.stage("probe"):
            # The version is asked what it needs while the container is probed, so that
            # frames are decoded at its size and every batch goes to that one version.
            described = asyncio.create_task(self.client.model_info(opts.model))
            try:
                info = await asyncio.to_thread(probe_upload, path, self.limits)
                if opts.robustness:
                    check_probe_allowed(info, config.robustness_max_duration_s)
            except BaseException:
                let_finish(described)
                raise
            description = await described
        times = sample_times_of(info, opts.frames, opts.rate)
        audio = start_audio(path, info)  # ends by itself if the request fails (bounded)
        frames, predictions, decode_s, infer_s, detect_s = await self._decode_and_infer(
            path, info, times, opts, description, progress
        )
        progress.stage("aggregate")
        timer.add("decode", decode_s)
        timer.add("inference", infer_s)
        if detect_s is not None:
            # Within inference: the keyframes' detect_faces calls, summed.
            timer.add("detect", detect_s)
        answered = predictions[0].version
        swapped = description is not None and description.version not in (None, answered)
        if swapped and answered >= 0:
            # The pinned version went away mid-video and another one rescored the frames:
            # what decides (sequence head, threshold) must be that version's.
            description = await self.client.model_info(opts.model.pinned(answered))
        aggregate_start = time.perf_counter()
        scored = read_frames(frames, predictions, config.default_threshold)
        model = opts.model.pinned(answered)
        aggregation = choose_aggregation(opts.aggregation, description, scored)
        tracks, threshold = None, scored.threshold
        point = choose_operating_point(opts.operating_point, description, aggregation)
        if point is not None:
            threshold = point.threshold
        if aggregation == SEQUENCE_AGGREGATION:
            assert description is not None
            sequence_start = time.perf_counter()
            progress.stage("sequence")
            tracks, threshold = await score_sequences(
                self.client, model, frames, scored, description.sequence_length
            )
            # The sequence head's call has its own histogram; it is not aggregation time.
            sequence_s = time.perf_counter() - sequence_start
            timer.add("sequence", sequence_s)
            aggregate_start += sequence_s
        moved = await motion_stage(  # timed as its own stage, taken off aggregation's
            self.client, model, info, description, frames, scored, timer=timer, progress=progress
        )
        heard = await audio_stage(self.client, model, audio, description, frames, scored)
        verdict = decide(
            scored.frames,
            face_aware=scored.face_aware,
            threshold=threshold,
            aggregation=aggregation,
            tracks=tracks,
        )
        verdict = join_members(verdict, description, motion=moved.score, audio=heard.member_score)
        names = member_names(description, scored.frames)
        members = (
            member_scores(
                scored.frames, verdict.tracks, face_aware=scored.face_aware, aggregation=aggregation
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
        timer.add("aggregate", time.perf_counter() - aggregate_start - moved.seconds)
        metrics.FRAMES_ANALYZED.inc(len(frames))
        explanations, warnings = None, []
        if opts.explain:
            progress.stage("explain")
            with timer.stage("explain"):
                explanations = await explain_tracks(
                    self.client,
                    model,
                    frames,
                    scored,
                    verdict.tracks,
                    per_track=config.explain_per_track,
                    side=config.explain_side,
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
            aggregation=aggregation,
            description=description,
            member_names=names,
            members=members,
            explanations=explanations,
            warnings=warnings,
            operating_point=point.name if point is not None else contract.OPERATING_POINT_BALANCED,
            reasons=reasons,
            audio=heard.summary,
            motion=moved.summary,
        )

    async def _decode_and_infer(
        self,
        path: Path,
        info: VideoInfo,
        times: list[float],
        opts: DetectOptions,
        description: VersionDescription | None,
        progress: Progress,
    ) -> tuple[list[SampledFrame], list[Prediction], float, float, float | None]:
        """Decode and score the frames; the last figure is the keyframe detection's seconds
        (None when faces were found by serving_default on every frame)."""
        decoder = ThreadedDecoder(
            path,
            info,
            times,
            batch_size=self.config.batch_size,
            max_side=self.config.max_side,
            min_side=description.frame_min_side if description is not None else 0,
            canvas=self.config.canvas,
            threads=self._decode_threads(),
            limits=self.decode_limits,
        )
        decode_done = decoder.start()
        frames: list[SampledFrame] = []
        first: Prediction | None = None
        pending: list[asyncio.Task[Prediction]] = []
        model = opts.model
        if description is not None and description.version is not None:
            # One video is scored by one version: the one that described itself.
            model = model.pinned(description.version)
        infer_start: float | None = None
        scorer = keyframe_scorer(
            self.client,
            model,
            self.config.keyframes,
            len(times),
            self.config.batch_size,
            on_scored=progress.frames_scored,
        )
        detect_s: float | None = None
        try:
            async for batch in decoder.batches():
                frames.extend(batch)
                if infer_start is None:
                    infer_start = time.perf_counter()
                    progress.stage("inference")
                if scorer is not None and await scorer.add(batch):
                    continue
                if scorer is not None:
                    # The version has no detect_faces: every frame goes to serving_default.
                    scorer = None
                    pending.append(asyncio.create_task(self._predict(model, frames[:], progress)))
                elif model.version is None:
                    # No model_info: the first answer pins the version.
                    first = await self._predict(model, batch, progress)
                    model = model.pinned(first.version)
                else:
                    pending.append(asyncio.create_task(self._predict(model, batch, progress)))
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
                predictions = [await self._predict(opts.model, frames, progress)]
        finally:
            decoder.stop()
            for task in pending:
                let_finish(task)
            if scorer is not None:
                scorer.abandon()
                detect_s = scorer.detect_s
        infer_s = time.perf_counter() - infer_start if infer_start is not None else 0.0
        return frames, predictions, decoder.seconds, infer_s, detect_s

    async def _predict(
        self, model: ModelRef, batch: list[SampledFrame], progress: Progress
    ) -> Prediction:
        stack = np.stack([f.image for f in batch])
        answer = await self.client.predict(model, {contract.FRAMES_INPUT: stack})
        progress.frames_scored(len(batch))
        return answer
