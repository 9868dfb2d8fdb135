"""The face-aware pipeline a user writes with the well-known packages, for comparison.

OpenCV reads the video frame by frame (as :mod:`bench.naive` does) and keeps the frames
that :class:`contract.frames.Picker` picks (the service's own sampling rule); the ``mtcnn``
package's ``MTCNN().detect_faces`` finds faces in those frames at full size (its batch
mode, its default settings); each face is cut with the margin the graph's crops use
(:data:`model_export.faces.DEFAULT_MARGIN`) and resized to the classifier's input; the
face-aware SavedModel's ``classify_faces`` signature, loaded in this process, scores the
crops; the video's score is the mean over faces (the whole frames when none is found).

The in-process split of the graph's inference into face detection and classification,
which the report uses to split Serving's CPU time, is here too (:func:`split_inference`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

import contract
from contract import sampling
from contract.frames import Picker

from .naive import PipelineRun

#: Side of the crops the classifier is given (MesoInception-4's input).
CROP_SIDE = 256
#: ``model_export.faces.DEFAULT_MARGIN``: the graph's crop margin, a fraction of the box's
#: height and width added on each side. Copied, not imported, so that this module stays the
#: user's code (no ``model_export``); tests/bench checks that the two agree.
MARGIN = 0.3


def sampled_frames_opencv(path: Path, count: int) -> list[np.ndarray]:
    """The RGB frames :class:`contract.frames.Picker` picks, read with OpenCV frame by frame,
    at full size.

    Timing comes from the container's headers (:func:`contract.sampling.stream_timing`),
    the keyframes the keyframe rule needs from its index; a frame's time is its index over
    the rate, which is exact on constant-rate clips.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        timing = sampling.stream_timing(container, stream)
        times = sampling.sample_times(timing.duration_s, timing.fps, timing.frame_count, count)
        picker = Picker.for_stream(container, stream, times, timing.fps)
    frames: list[np.ndarray] = []
    cap = cv2.VideoCapture(str(path))
    try:
        index = 0
        while not picker.done:
            ok, bgr = cap.read()
            if not ok:
                break
            t = index / timing.fps if timing.fps else 0.0
            index += 1
            served = picker.take(t)
            if served:
                frames.extend([cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)] * served)
    finally:
        cap.release()
    return frames


def margin_crop(
    frame: np.ndarray, box: tuple[float, float, float, float], margin: float, side: int
) -> np.ndarray:
    """Cut the pixel box ``(x, y, w, h)`` widened by ``margin`` on each side, as ``side``².

    Parts of the widened box outside the frame are black, as in the graph's crops.
    """
    x, y, w, h = box
    x1, y1 = round(x - w * margin), round(y - h * margin)
    x2, y2 = round(x + w * (1 + margin)), round(y + h * (1 + margin))
    height, width = frame.shape[:2]
    out = np.zeros((max(1, y2 - y1), max(1, x2 - x1), 3), np.uint8)
    sy1, sx1, sy2, sx2 = max(0, y1), max(0, x1), min(height, y2), min(width, x2)
    if sy2 > sy1 and sx2 > sx1:
        out[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = frame[sy1:sy2, sx1:sx2]
    return cv2.resize(out, (side, side), interpolation=cv2.INTER_LINEAR)


class FaceClassifier:
    """The face-aware SavedModel's ``classify_faces`` and ``serving_default``, in process."""

    def __init__(self, version_dir: Path) -> None:
        import tensorflow as tf

        self._tf = tf
        self._loaded = tf.saved_model.load(str(version_dir))
        self._faces = self._loaded.signatures[contract.FACES_SIGNATURE]
        self._serve = self._loaded.signatures[contract.SERVING_SIGNATURE]

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """Fake probability per uint8 RGB crop ``[N, H, W, 3]``."""
        out = self._faces(**{contract.FACES_INPUT: self._tf.constant(crops, self._tf.uint8)})
        return np.asarray(out[contract.FAKE_PROBABILITY]).reshape(-1)

    def serve(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """The whole graph (detection, crops, classification) on uint8 RGB ``frames``."""
        out = self._serve(**{contract.FRAMES_INPUT: self._tf.constant(frames, self._tf.uint8)})
        return {k: np.asarray(v) for k, v in out.items()}


def run_mtcnn_package(
    path: Path, detector: object, classifier: FaceClassifier, count: int
) -> PipelineRun:
    """The user's pipeline on one video: sample, detect, crop, classify, average."""
    cpu0, start = time.process_time(), time.perf_counter()
    frames = sampled_frames_opencv(path, count)
    t1, cpu1 = time.perf_counter(), time.process_time()
    detections = detector.detect_faces(frames)  # type: ignore[attr-defined]
    if frames and isinstance(detections, list) and detections and isinstance(detections[0], dict):
        detections = [detections]  # one frame: the package answers a flat list
    t2, cpu2 = time.perf_counter(), time.process_time()
    crops = [
        margin_crop(frame, tuple(face["box"]), MARGIN, CROP_SIDE)
        for frame, faces in zip(frames, detections, strict=True)
        for face in faces
    ]
    if not crops:  # no face anywhere: the frames themselves
        side = (CROP_SIDE, CROP_SIDE)
        crops = [cv2.resize(f, side, interpolation=cv2.INTER_AREA) for f in frames]
    scores = classifier.classify(np.stack(crops))
    t3, cpu3 = time.perf_counter(), time.process_time()
    return PipelineRun(
        total_ms=(t3 - start) * 1000.0,
        stages_ms={
            "decode": (t1 - start) * 1000.0,
            "detection": (t2 - t1) * 1000.0,
            "classification": (t3 - t2) * 1000.0,
        },
        frames_decoded=len(frames),
        frames_classified=len(crops),
        score=float(scores.mean()),
        cpu_ms=(cpu3 - cpu0) * 1000.0,
        stages_cpu_ms={
            "decode": (cpu1 - cpu0) * 1000.0,
            "detection": (cpu2 - cpu1) * 1000.0,
            "classification": (cpu3 - cpu2) * 1000.0,
        },
    )


@dataclass(frozen=True)
class InferenceSplit:
    """CPU time of the face-aware graph on one batch, and of its classification part (ms)."""

    graph_cpu_ms: float
    classification_cpu_ms: float
    faces: int
    #: Frames without a face, which the graph classifies whole.
    faceless: int = 0

    @property
    def classification_share(self) -> float:
        """Share of the graph's CPU time spent classifying (the rest is finding faces)."""
        if self.graph_cpu_ms <= 0:
            return float("nan")
        return min(1.0, self.classification_cpu_ms / self.graph_cpu_ms)


def split_inference(classifier: FaceClassifier, frames: np.ndarray, batch: int) -> InferenceSplit:
    """Time the graph on ``frames`` (in ``batch``-frame calls) and its classification alone.

    The graph classifies every detected face and, only for frames without one, the whole
    frame: its classification part is ``classify_faces`` on the faces it found (cut with the
    same margin) plus on those faceless frames.
    """
    outputs = [classifier.serve(frames[i : i + batch]) for i in range(0, len(frames), batch)]
    cpu0 = time.process_time()
    outputs = [classifier.serve(frames[i : i + batch]) for i in range(0, len(frames), batch)]
    graph = time.process_time() - cpu0
    height, width = frames.shape[1:3]
    crops, faceless = [], []
    for out, start in zip(outputs, range(0, len(frames), batch), strict=True):
        for j, n in enumerate(out[contract.FACE_COUNT].reshape(-1)):
            if int(n) == 0:
                faceless.append(start + j)
            for y1, x1, y2, x2 in out[contract.FACE_BOXES][j][: int(n)]:
                box = (x1 * width, y1 * height, (x2 - x1) * width, (y2 - y1) * height)
                crops.append(margin_crop(frames[start + j], box, MARGIN, CROP_SIDE))
    classifier.classify(frames[:batch])  # first call per shape builds the function
    cpu1 = time.process_time()
    if crops:
        classifier.classify(np.stack(crops))
    for i in range(0, len(faceless), batch):
        classifier.classify(frames[faceless[i : i + batch]])
    classification = time.process_time() - cpu1
    return InferenceSplit(graph * 1000.0, classification * 1000.0, len(crops), len(faceless))
