"""Check the in-graph detector against the ``mtcnn`` package's own ``detect_faces``.

Used by the tests and by ``bench/face_detector.py``: sample frames from clips with PyAV, run
both detectors on the same frames, and count how many of the package's confident faces the
in-graph detector also finds (IoU at least 0.5).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

logger = logging.getLogger(__name__)


def sample_frames(path: Path, count: int) -> np.ndarray:
    """Decode ``count`` frames spread evenly over the clip, as uint8 RGB ``[count, H, W, 3]``.

    Frames are picked strictly inside the clip (not the very first or last one) and decoded
    in one sequential pass; fewer come back when the clip is shorter.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        total = stream.frames or 0
        if total <= 0:  # some containers do not store a frame count
            total = sum(1 for _ in container.decode(stream))
            container.seek(0)
        wanted = set(np.linspace(0, total - 1, count + 2).round().astype(int)[1:-1].tolist())
        frames = []
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == len(wanted):
                break
    return np.stack(frames)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of pixel boxes ``[x1, y1, x2, y2]``: ``a`` [P, 4] against ``b`` [Q, 4]."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=-1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def package_faces(
    frames: np.ndarray,
    detector: object | None = None,
    min_face_size: int = 20,
    thresholds: Sequence[float] = (0.6, 0.7, 0.7),
) -> list[list[tuple[np.ndarray, float]]]:
    """Faces per frame from ``mtcnn.MTCNN().detect_faces``: (pixel ``[x1, y1, x2, y2]``, score).

    The package is called in its batch mode (a list of frames) with the same thresholds as
    the in-graph detector; its O-Net default is 0.8, ours 0.7.
    """
    if detector is None:
        from mtcnn import MTCNN

        detector = MTCNN()
    results = detector.detect_faces(
        list(frames),
        min_face_size=min_face_size,
        threshold_pnet=thresholds[0],
        threshold_rnet=thresholds[1],
        threshold_onet=thresholds[2],
    )
    faces = []
    for per_frame in results:
        faces.append(
            [
                (np.array([x, y, x + w, y + h], np.float64), float(face["confidence"]))
                for face in per_frame
                for x, y, w, h in [face["box"]]
            ]
        )
    return faces


def graph_faces(
    boxes: np.ndarray, scores: np.ndarray, count: np.ndarray, height: int, width: int
) -> list[list[tuple[np.ndarray, float]]]:
    """The in-graph detector's normalised output as pixel ``[x1, y1, x2, y2]`` per frame."""
    scale = np.array([width, height, width, height], np.float64)
    faces = []
    for frame_boxes, frame_scores, n in zip(boxes, scores, count, strict=True):
        faces.append(
            [
                (np.array([b[1], b[0], b[3], b[2]], np.float64) * scale, float(s))
                for b, s in zip(frame_boxes[:n], frame_scores[:n], strict=True)
            ]
        )
    return faces


@dataclass
class Agreement:
    """How many of the package's confident faces the in-graph detector found."""

    matched: int = 0
    total: int = 0
    ious: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Matched share of the package's faces (1.0 when it found none)."""
        return self.matched / self.total if self.total else 1.0

    def add(
        self,
        reference: list[list[tuple[np.ndarray, float]]],
        ours: list[list[tuple[np.ndarray, float]]],
        min_confidence: float = 0.9,
        min_iou: float = 0.5,
    ) -> None:
        """Count, frame by frame, the reference faces with a match of IoU >= ``min_iou``."""
        for ref_faces, our_faces in zip(reference, ours, strict=True):
            confident = [box for box, score in ref_faces if score >= min_confidence]
            if not confident:
                continue
            best = np.zeros(len(confident))
            if our_faces:
                iou = box_iou(np.stack(confident), np.stack([box for box, _ in our_faces]))
                best = iou.max(axis=1)
            self.total += len(confident)
            self.matched += int((best >= min_iou).sum())
            self.ious.extend(best.tolist())
