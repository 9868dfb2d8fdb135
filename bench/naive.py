"""The in-process pipelines the service is compared with.

* The naive pipeline, as a user writes it first: OpenCV ``read()`` of every frame,
  the SavedModel loaded with ``tf.saved_model.load``, every frame classified in
  batches, the scores averaged.  (Frames are classified as each batch fills, so it
  never holds the whole video in memory: the kinder version of the first attempt.)
* The sequential reference: exactly the frames the service samples, decoded with
  the gateway's own decoder, then classified by the same SavedModel in the gateway's
  batch size, then aggregated with the gateway's aggregation; one step after the other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

import contract
from contract.aggregation import aggregate_scores
from gateway.pipeline.probe import probe
from gateway.pipeline.video import iter_frames, sample_times_of

from .settings import GatewayDefaults

#: Batch size of the naive pipeline (Keras' ``predict`` default).
NAIVE_BATCH = 32


def latest_version(model_dir: Path) -> tuple[Path, int]:
    """The highest integer version under ``model_dir``, as TF Serving picks it."""
    names = [p.name for p in model_dir.iterdir() if p.is_dir()]
    versions = [int(n) for n in names if contract.is_version_dir_name(n)]
    if not versions:
        raise FileNotFoundError(f"no model version under {model_dir}; run `make model`")
    version = max(versions)
    return model_dir / str(version), version


class InProcessModel:
    """The SavedModel's ``serving_default`` signature, called in this process."""

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        self._tf = tf
        self._loaded = tf.saved_model.load(str(path))
        self._fn = self._loaded.signatures[contract.SERVING_SIGNATURE]

    @property
    def frame_min_side(self) -> int:
        """What the version's ``model_info`` asks for, as the gateway learns it (0: none)."""
        info = self._loaded.signatures.get(contract.MODEL_INFO_SIGNATURE)
        if info is None:
            return 0
        out = info(**{contract.FRAMES_INPUT: self._tf.zeros([1, 1, 1, 3], self._tf.uint8)})
        return int(np.asarray(out[contract.FRAME_MIN_SIDE]).reshape(-1)[0])

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Fake probability per frame for uint8 RGB ``frames`` [N, H, W, 3]."""
        out = self._fn(**{contract.FRAMES_INPUT: self._tf.constant(frames, dtype=self._tf.uint8)})
        return np.asarray(out[contract.FAKE_PROBABILITY]).reshape(-1)


@dataclass(frozen=True)
class PipelineRun:
    """One video through an in-process pipeline; stage times in milliseconds."""

    total_ms: float
    stages_ms: dict[str, float]
    frames_decoded: int
    frames_classified: int
    score: float
    cpu_ms: float  # CPU time of this process (all threads) for the run
    stages_cpu_ms: dict[str, float] = field(default_factory=dict)


def run_naive(path: Path, model: InProcessModel, batch_size: int = NAIVE_BATCH) -> PipelineRun:
    """OpenCV reads every frame; every frame is classified; the scores are averaged."""
    cpu0 = time.process_time()
    start = time.perf_counter()
    decode_s = infer_s = decode_cpu = infer_cpu = 0.0
    scores: list[np.ndarray] = []
    batch: list[np.ndarray] = []
    decoded = 0
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            t0, c0 = time.perf_counter(), time.process_time()
            ok, bgr = cap.read()
            if ok:
                batch.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                decoded += 1
            t1, c1 = time.perf_counter(), time.process_time()
            decode_s += t1 - t0
            decode_cpu += c1 - c0
            if batch and (len(batch) == batch_size or not ok):
                scores.append(model.predict(np.stack(batch)))
                batch = []
                infer_s += time.perf_counter() - t1
                infer_cpu += time.process_time() - c1
            if not ok:
                break
    finally:
        cap.release()
    t2 = time.perf_counter()
    all_scores = np.concatenate(scores) if scores else np.zeros(0)
    score = float(all_scores.mean()) if all_scores.size else 0.5
    aggregate_s = time.perf_counter() - t2
    return PipelineRun(
        total_ms=(time.perf_counter() - start) * 1000.0,
        stages_ms={
            "decode": decode_s * 1000.0,
            "inference": infer_s * 1000.0,
            "aggregate": aggregate_s * 1000.0,
        },
        frames_decoded=decoded,
        frames_classified=int(all_scores.size),
        score=score,
        cpu_ms=(time.process_time() - cpu0) * 1000.0,
        stages_cpu_ms={"decode": decode_cpu * 1000.0, "inference": infer_cpu * 1000.0},
    )


def run_reference(path: Path, model: InProcessModel, defaults: GatewayDefaults) -> PipelineRun:
    """The service's work without the service: probe, decode the sample, classify, aggregate."""
    cpu0 = time.process_time()
    start = time.perf_counter()
    info = probe(path, defaults.limits)
    times = sample_times_of(info, defaults.frames)
    t1 = time.perf_counter()
    # Decoded as the gateway decodes one video at a time: with threads (a core is free).
    frames = [
        f.image
        for f in iter_frames(
            path, info, times, max_side=defaults.max_side, min_side=defaults.min_side, threads=True
        )
    ]
    t2, cpu2 = time.perf_counter(), time.process_time()
    scores = np.concatenate(
        [
            model.predict(np.stack(frames[i : i + defaults.batch_size]))
            for i in range(0, len(frames), defaults.batch_size)
        ]
    )
    t3, cpu3 = time.perf_counter(), time.process_time()
    score = aggregate_scores(scores, defaults.aggregation)  # type: ignore[arg-type]
    t4, cpu4 = time.perf_counter(), time.process_time()
    return PipelineRun(
        total_ms=(t4 - start) * 1000.0,
        stages_ms={
            "probe": (t1 - start) * 1000.0,
            "decode": (t2 - t1) * 1000.0,
            "inference": (t3 - t2) * 1000.0,
            "aggregate": (t4 - t3) * 1000.0,
        },
        frames_decoded=len(frames),
        frames_classified=len(frames),
        score=score,
        cpu_ms=(cpu4 - cpu0) * 1000.0,
        stages_cpu_ms={
            "probe+decode": (cpu2 - cpu0) * 1000.0,
            "inference": (cpu3 - cpu2) * 1000.0,
            "aggregate": (cpu4 - cpu3) * 1000.0,
        },
    )


@dataclass(frozen=True)
class SizeDrift:
    """How much the scores move when frames are sent smaller (one clip)."""

    sizes: dict[str, tuple[int, int]]  # name -> (width, height) of the frames classified
    frame_mae: dict[str, float]  # name -> mean |score - score at full size| per frame
    video_delta: dict[str, float]  # name -> |video score - video score at full size|


def size_drift(path: Path, model: InProcessModel, defaults: GatewayDefaults) -> SizeDrift:
    """Score the sampled frames at full size, at the gateway's cap and at the model's size.

    The graph resizes every frame to the model's input, so a frame sent at the size the
    version asks for should score as the full-size frame does; this measures it.
    """
    info = probe(path, defaults.limits)
    times = sample_times_of(info, defaults.frames)
    full_side = max(info.width, info.height)
    variants = {
        "full size": {"max_side": full_side},
        f"gateway cap ({defaults.max_side})": {"max_side": defaults.max_side},
        f"model's size (min side {defaults.min_side})": {
            "max_side": defaults.max_side,
            "min_side": defaults.min_side,
        },
    }
    scores: dict[str, np.ndarray] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for name, kwargs in variants.items():
        frames = [f.image for f in iter_frames(path, info, times, **kwargs)]
        sizes[name] = (frames[0].shape[1], frames[0].shape[0])
        scores[name] = model.predict(np.stack(frames))
    base = scores["full size"]
    base_video = aggregate_scores(base, defaults.aggregation)  # type: ignore[arg-type]
    return SizeDrift(
        sizes=sizes,
        frame_mae={k: float(np.mean(np.abs(v - base))) for k, v in scores.items()},
        video_delta={
            k: abs(aggregate_scores(v, defaults.aggregation) - base_video)  # type: ignore[arg-type]
            for k, v in scores.items()
        },
    )
