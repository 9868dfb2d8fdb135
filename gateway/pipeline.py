"""The detection pipeline: named, timed stages from an uploaded file to a verdict.

    probe (+ model_info) -> decode (thread) ─┬─> infer (batches to Serving, as frames arrive)
                                             └── batches are in flight while later frames decode
                            -> [sequence: a sequence head scores the face tracks] -> aggregate

``model_info`` names the version that will score the video (every batch is pinned to
it) and the frame size it needs, so frames are decoded no larger than that.

Every stage is timed into ``gateway_stage_seconds{stage=...}`` and the response.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import contract
from contract import sampling
from contract.aggregation import (
    DEFAULT_STRATEGY,
    SEQUENCE_STRATEGY,
    FrameResult,
    Strategy,
    Track,
    Verdict,
    decide,
    frame_results,
    link_tracks,
    whole_frame_track,
)

from . import metrics
from .errors import AggregationUnavailable, InferenceFailed, InvalidVideo, ModelNotFound
from .serving_client import ModelInfo, ModelRef, Prediction, ServingClient
from .video import SampledFrame, VideoInfo, VideoLimits, iter_frames, probe

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
    canvas: int | None = None
    decode_threads: bool = False


@dataclass
class StageTimer:
    """Milliseconds per stage for one request, also observed into the stage histogram."""

    ms: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.ms[name] = self.ms.get(name, 0.0) + seconds * 1000.0
        metrics.STAGE_SECONDS.labels(stage=name).observe(seconds)


@dataclass
class DetectionResult:
    info: VideoInfo
    frames: list[FrameResult]
    verdict: Verdict
    model_name: str
    version: int
    face_aware: bool
    #: The aggregation that decided (the one asked for, or the version's default).
    strategy: Strategy


@dataclass
class _Scored:
    """The model's per-frame answers, before tracks and a verdict."""

    frames: list[FrameResult]
    face_aware: bool
    threshold: float
    #: Face crops ``[N, F, S, S, 3]`` of face-aware sequence versions, else None.
    crops: np.ndarray | None


class _Decoder:
    """Runs frame decoding on a worker thread and hands batches to the event loop."""

    _DONE = object()

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        times: list[float],
        opts: DetectOptions,
        min_side: int = 0,
    ) -> None:
        self._path, self._info, self._times, self._opts = path, info, times, opts
        self._min_side = min_side
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._stop = threading.Event()
        self.seconds = 0.0

    def start(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()

        def put(item: object) -> None:
            loop.call_soon_threadsafe(self._queue.put_nowait, item)

        def produce() -> None:
            start = time.perf_counter()
            batch: list[SampledFrame] = []
            try:
                for frame in iter_frames(
                    self._path,
                    self._info,
                    self._times,
                    max_side=self._opts.max_side,
                    min_side=self._min_side,
                    canvas=self._opts.canvas,
                    threads=self._opts.decode_threads,
                ):
                    if self._stop.is_set():
                        return
                    batch.append(frame)
                    if len(batch) == self._opts.batch_size:
                        put(batch)
                        batch = []
                if batch:
                    put(batch)
                put(self._DONE)
            except BaseException as exc:  # handed over to the event loop and raised there
                put(exc)
            finally:
                self.seconds = time.perf_counter() - start

        return loop.run_in_executor(None, produce)

    def stop(self) -> None:
        self._stop.set()

    async def batches(self) -> Iterator[list[SampledFrame]]:  # type: ignore[misc]
        while True:
            item = await self._queue.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]


def _threshold(outputs: dict[str, np.ndarray], default: float) -> float:
    """The threshold an answer ships (the same in every row), or ``default``."""
    value = outputs.get(contract.THRESHOLD)
    return float(np.asarray(value).reshape(-1)[0]) if value is not None else default


class DetectionPipeline:
    """Turns a video file into a verdict by way of Serving."""

    def __init__(self, client: ServingClient, limits: VideoLimits) -> None:
        self.client = client
        self.limits = limits

    async def run(self, path: Path, opts: DetectOptions, timer: StageTimer) -> DetectionResult:
        with timer.stage("probe"):
            # The version is asked what it needs while the container is probed, so that
            # frames are decoded at its size and every batch goes to that one version.
            described = asyncio.create_task(self.client.model_info(opts.model))
            try:
                info = await asyncio.to_thread(probe, path, self.limits)
            except BaseException:
                described.cancel()
                raise
            model_info = await described
        times = sampling.sample_times(
            info.duration_s, info.fps, info.frame_count, opts.frames, opts.rate
        )
        frames, predictions, decode_s, infer_s = await self._decode_and_infer(
            path, info, times, opts, model_info
        )
        timer.add("decode", decode_s)
        timer.add("inference", infer_s)
        answered = predictions[0].version
        if model_info is not None and model_info.version not in (None, answered) and answered >= 0:
            # The pinned version went away mid-video and another one rescored the frames:
            # what decides (sequence head, threshold) must be that version's.
            model_info = await self.client.model_info(ModelRef(opts.model.name, version=answered))
        aggregate_start = time.perf_counter()
        scored = self._frame_results(frames, predictions, opts)
        strategy = self._strategy(opts, model_info, scored)
        tracks, threshold = None, scored.threshold
        if strategy == SEQUENCE_STRATEGY:
            assert model_info is not None
            model = ModelRef(opts.model.name, version=answered) if answered >= 0 else opts.model
            sequence_start = time.perf_counter()
            tracks, threshold = await self._score_sequences(
                model, frames, scored, model_info.sequence_length
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
        timer.add("aggregate", time.perf_counter() - aggregate_start)
        metrics.FRAMES_ANALYZED.inc(len(frames))
        return DetectionResult(
            info=info,
            frames=scored.frames,
            verdict=verdict,
            model_name=predictions[0].name,
            version=predictions[0].version,
            face_aware=scored.face_aware,
            strategy=strategy,
        )

    async def _decode_and_infer(
        self,
        path: Path,
        info: VideoInfo,
        times: list[float],
        opts: DetectOptions,
        model_info: ModelInfo | None,
    ) -> tuple[list[SampledFrame], list[Prediction], float, float]:
        min_side = model_info.frame_min_side if model_info is not None else 0
        decoder = _Decoder(path, info, times, opts, min_side)
        decode_done = decoder.start()
        frames: list[SampledFrame] = []
        first: Prediction | None = None
        pending: list[asyncio.Task[Prediction]] = []
        model = opts.model
        if model_info is not None and model_info.version is not None:
            # One video is scored by one version: the one that described itself.
            model = ModelRef(model.name, version=model_info.version)
        infer_start: float | None = None
        try:
            async for batch in decoder.batches():  # type: ignore[attr-defined]
                frames.extend(batch)
                if infer_start is None:
                    infer_start = time.perf_counter()
                if model.version is None:
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
        infer_s = time.perf_counter() - infer_start if infer_start is not None else 0.0
        return frames, predictions, decoder.seconds, infer_s

    async def _predict(self, model: ModelRef, batch: list[SampledFrame]) -> Prediction:
        stack = np.stack([f.image for f in batch])
        return await self.client.predict(model, {contract.FRAMES_INPUT: stack})

    def _frame_results(
        self, frames: list[SampledFrame], predictions: list[Prediction], opts: DetectOptions
    ) -> _Scored:
        """Per-frame (and per-face) results from the model's outputs."""

        def cat(key: str) -> np.ndarray | None:
            if any(key not in p.outputs for p in predictions):
                return None
            return np.concatenate([np.atleast_1d(p.outputs[key]) for p in predictions])

        scores = cat(contract.FAKE_PROBABILITY)
        if scores is None or scores.shape[0] != len(frames):
            raise InferenceFailed(
                f"model output {contract.FAKE_PROBABILITY!r} is missing or has the wrong shape"
            )
        threshold = _threshold(predictions[0].outputs, opts.default_threshold)
        outputs = {
            key: value
            for key in (contract.FAKE_PROBABILITY, *contract.FACE_OUTPUTS)
            if (value := cat(key)) is not None
        }
        assert contract.FACE_BOXES not in outputs or all(
            key in outputs for key in contract.FACE_OUTPUTS
        )
        # Boxes come normalised to the image sent; report them on the picture.
        scales = []
        for frame in frames:
            height, width = frame.image.shape[:2]
            ch, cw = frame.content if frame.content[0] else (height, width)
            scales.append([height / ch, width / cw, height / ch, width / cw])
        results, face_aware = frame_results(
            outputs, [f.t_s for f in frames], box_scales=scales, digits=4
        )
        crops = cat(contract.FACE_CROPS) if face_aware else None
        return _Scored(results, face_aware, threshold, crops)

    @staticmethod
    def _strategy(opts: DetectOptions, model_info: ModelInfo | None, scored: _Scored) -> Strategy:
        """The strategy asked for, or the best the answering version supports."""
        length = model_info.sequence_length if model_info is not None else 0
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
        scored: _Scored,
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
        window_scores = np.asarray(answer.outputs[contract.FAKE_PROBABILITY]).reshape(-1)
        if window_scores.shape[0] != len(rows):
            raise InferenceFailed(
                f"{contract.SEQUENCE_SIGNATURE!r} answered {window_scores.shape[0]} scores "
                f"for {len(rows)} sequences"
            )
        owners = np.asarray(owner)
        for k, track in enumerate(tracks):
            track.score = float(window_scores[owners == k].mean())
        return tracks, _threshold(answer.outputs, scored.threshold)
