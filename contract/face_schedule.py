"""Which sampled frames faces are detected on, and the boxes of the frames between them.

Detecting faces is most of a face-aware version's cost, and faces move little between
neighbouring sampled frames. So a client detects on keyframes only (every ``k``-th sampled
frame and always the last one, :func:`keyframes`), optionally on a downscaled copy of the frame
(:func:`detect_shape`; boxes are normalised, so they fit the full frame), and gives every frame
between two keyframes ``a < i < b`` boxes from the two bracketing detections
(:func:`between`):

* faces of ``a`` and ``b`` are matched greedily by IoU (:func:`contract.tracks.iou`, the
  one definition), highest first, at :data:`MATCH_IOU` or more;
* a matched pair is interpolated linearly in the sample index, and the frame reports the
  detection score of the nearer keyframe (of ``a`` at the midpoint);
* a face seen only at ``a`` (or only at ``b``) is held, box and score, for the frames nearer
  to that keyframe (the midpoint goes to ``a``): it appeared or left somewhere in between.

Every frame's faces are then scored with the version's ``classify_boxes``. The rule lives in
the contract because the gateway applies it and ``model_export``'s evaluation (``bench``'s
recall figures) measures it. Pure numpy, no TensorFlow. With ``k = 1`` every frame is a
keyframe and nothing is interpolated: the detection on every frame, as ``serving_default``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from contract.tracks import TRACK_IOU, iou

__all__ = [
    "MATCH_IOU",
    "Faces",
    "between",
    "detect_shape",
    "keyframes",
    "match",
    "padded",
    "schedule",
]

#: Faces of two keyframes at least this IoU apart are one face (the tracks' own linking IoU).
MATCH_IOU = TRACK_IOU


@dataclass(frozen=True)
class Faces:
    """The faces of one frame: ``boxes`` [F, 4] normalised ``[y1, x1, y2, x2]`` and
    detection ``scores`` [F], most confident first; F may be 0."""

    boxes: np.ndarray
    scores: np.ndarray

    @staticmethod
    def of(boxes: np.ndarray, scores: np.ndarray, count: int) -> Faces:
        """The first ``count`` slots of a detector's padded answer for one frame."""
        n = int(count)
        return Faces(
            np.asarray(boxes, np.float32)[:n].reshape(n, 4),
            np.asarray(scores, np.float32)[:n].reshape(n),
        )

    @property
    def count(self) -> int:
        return int(self.scores.shape[0])


def keyframes(count: int, every: int) -> list[int]:
    """The sampled frames to detect on: ``0, every, 2 * every, ...`` and always the last.

    ``every`` 1 is every frame; ``count`` 0 is none.
    """
    if every < 1:
        raise ValueError("every must be at least 1")
    if count <= 0:
        return []
    chosen = list(range(0, count, every))
    if chosen[-1] != count - 1:
        chosen.append(count - 1)
    return chosen


def detect_shape(height: int, width: int, side: int) -> tuple[int, int]:
    """``(height, width)`` of a frame downscaled, aspect kept, so that its shorter side is at
    most ``side`` pixels; the frame's own size when it already is, or when ``side`` is 0."""
    short = min(height, width)
    if side <= 0 or short <= side:
        return height, width
    scale = side / short
    return max(1, round(height * scale)), max(1, round(width * scale))


def match(a: Faces, b: Faces, threshold: float = MATCH_IOU) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of a face of ``a`` and a face of ``b`` that are one face: greedily by
    IoU, highest first, each face in one pair at most, IoU at least ``threshold``."""
    candidates = sorted(
        (
            (iou(a.boxes[i].tolist(), b.boxes[j].tolist()), i, j)
            for i in range(a.count)
            for j in range(b.count)
        ),
        reverse=True,
    )
    pairs: list[tuple[int, int]] = []
    used_a: set[int] = set()
    used_b: set[int] = set()
    for overlap, i, j in candidates:
        if overlap < threshold or overlap <= 0.0:
            break
        if i in used_a or j in used_b:
            continue
        pairs.append((i, j))
        used_a.add(i)
        used_b.add(j)
    return sorted(pairs)


def between(a: Faces, b: Faces, steps: int, threshold: float = MATCH_IOU) -> list[Faces]:
    """The faces of the ``steps - 1`` frames strictly between keyframes ``a`` and ``b``,
    which are ``steps`` sampled frames apart; each frame's faces most confident first."""
    if steps < 1:
        raise ValueError("keyframes must be at least one frame apart")
    pairs = match(a, b, threshold)
    only_a = [i for i in range(a.count) if i not in {p[0] for p in pairs}]
    only_b = [j for j in range(b.count) if j not in {p[1] for p in pairs}]
    out: list[Faces] = []
    for step in range(1, steps):
        t = step / steps
        near_a = t <= 0.5
        boxes: list[np.ndarray] = []
        scores: list[float] = []
        for i, j in pairs:
            boxes.append((1.0 - t) * a.boxes[i] + t * b.boxes[j])
            scores.append(float(a.scores[i] if near_a else b.scores[j]))
        for i in only_a if near_a else []:
            boxes.append(a.boxes[i])
            scores.append(float(a.scores[i]))
        for j in [] if near_a else only_b:
            boxes.append(b.boxes[j])
            scores.append(float(b.scores[j]))
        order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
        out.append(
            Faces(
                np.asarray(boxes, np.float32).reshape(-1, 4)[order],
                np.asarray(scores, np.float32).reshape(-1)[order],
            )
        )
    return out


def schedule(
    count: int, every: int, detections: dict[int, Faces], threshold: float = MATCH_IOU
) -> list[Faces]:
    """Every sampled frame's faces from the detections on ``keyframes(count, every)``."""
    chosen = keyframes(count, every)
    missing = [k for k in chosen if k not in detections]
    if missing:
        raise ValueError(f"no detection for keyframes {missing}")
    out: list[Faces] = [detections[chosen[0]]] if chosen else []
    for a, b in pairwise(chosen):
        out.extend(between(detections[a], detections[b], b - a, threshold))
        out.append(detections[b])
    return out


def padded(faces: list[Faces], slots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(boxes [N, slots, 4], scores [N, slots], count [N])`` as a detector pads them: the
    ``slots`` most confident faces per frame, zeros past the count."""
    n = len(faces)
    boxes = np.zeros((n, slots, 4), np.float32)
    scores = np.zeros((n, slots), np.float32)
    count = np.zeros((n,), np.int32)
    for row, frame in enumerate(faces):
        k = min(frame.count, slots)
        boxes[row, :k] = frame.boxes[:k]
        scores[row, :k] = frame.scores[:k]
        count[row] = k
    return boxes, scores, count
