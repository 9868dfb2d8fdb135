"""Why a verdict deserves care: machine-readable reason codes and the rules behind them.

A detection answer lists the codes that apply (empty when none). Two of them are part of
the verdict rule in :mod:`contract.aggregation` and make the verdict ``inconclusive``:
``no_face`` (a face-aware version found faces in too few frames) and ``near_threshold``
(the score's bootstrap interval straddles the threshold). The others are warnings that may
accompany any verdict: the score was computed, but on evidence a reader should weigh.

The levels below are stated constants. :data:`MIN_BITS_PER_PIXEL` is a heuristic level
(typical web video at 720p30 runs at 0.05-0.1 bits per pixel per frame), not a level
measured on labelled data; the others follow from how the score is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from .aggregation import FrameResult, Verdict, straddles

#: A reason code, as the API reports it.
ReasonCode = Literal[
    "no_face",
    "face_too_small",
    "too_few_frames",
    "heavy_compression",
    "near_threshold",
    "frames_disagree",
]
#: Every code, in the order an answer lists them.
REASON_CODES: tuple[ReasonCode, ...] = get_args(ReasonCode)
#: One line per code: what it means.
REASON_DESCRIPTIONS: dict[ReasonCode, str] = {
    "no_face": "A face-aware version found faces in too few sampled frames to decide.",
    "face_too_small": (
        "The deciding face is smaller, in source pixels, than the crop the model was "
        "trained on: it was upscaled before scoring."
    ),
    "too_few_frames": "Fewer frames were scored than MIN_SCORED_FRAMES.",
    "heavy_compression": (
        "The video stream has fewer bits per pixel per frame than MIN_BITS_PER_PIXEL: "
        "compression may have erased or imitated manipulation traces."
    ),
    "near_threshold": "The score's bootstrap interval straddles the decision threshold.",
    "frames_disagree": (
        "The deciding track's frame scores spread widely (interquartile range above "
        "FRAMES_DISAGREE_IQR)."
    ),
}
#: The codes that make a verdict ``inconclusive`` (both decided in :func:`~.aggregation.decide`).
INCONCLUSIVE_REASONS: tuple[ReasonCode, ...] = ("no_face", "near_threshold")

#: Fewer scored frames than this give ``too_few_frames``: a bootstrap over a handful of
#: frames says little, and the default sampling scores 32.
MIN_SCORED_FRAMES = 8
#: Bits per pixel per frame below this give ``heavy_compression`` (a heuristic level).
MIN_BITS_PER_PIXEL = 0.02
#: An interquartile range of the deciding track's frame scores above this gives
#: ``frames_disagree``: the middle half of the frames spans almost a third of the scale.
FRAMES_DISAGREE_IQR = 0.3


def bits_per_pixel(bitrate: float | None, width: int, height: int, fps: float) -> float | None:
    """``bitrate / (width * height * fps)``; None when any of them is unknown or zero."""
    if not bitrate or bitrate <= 0 or width <= 0 or height <= 0 or fps <= 0:
        return None
    return float(bitrate) / (width * height * fps)


def deciding_scores(verdict: Verdict, frames: Sequence[FrameResult]) -> list[float]:
    """The frame scores the video score came from: the deciding track's, else every frame's."""
    for track in verdict.tracks:
        if track.id == verdict.deciding_track:
            return list(track.scores)
    return [f.score for f in frames]


def deciding_face_side(
    verdict: Verdict, frames: Sequence[FrameResult], width: int, height: int
) -> float | None:
    """The median larger side, in source pixels, of the deciding track's face boxes.

    None when no face track decided. ``width`` and ``height`` are the video's as displayed,
    the frame the normalised boxes are fractions of.
    """
    track = next((t for t in verdict.tracks if t.id == verdict.deciding_track), None)
    if track is None or not track.slots:
        return None
    sides = []
    for index, slot in zip(track.frames, track.slots, strict=True):
        faces = [f for f in frames[index].faces if f.slot == slot]
        if faces:
            y1, x1, y2, x2 = faces[0].box
            sides.append(max((y2 - y1) * height, (x2 - x1) * width))
    return float(np.median(sides)) if sides else None


def verdict_reasons(
    verdict: Verdict,
    frames: Sequence[FrameResult],
    *,
    face_aware: bool,
    width: int,
    height: int,
    face_input_side: int = 0,
    bits_per_pixel: float | None = None,
) -> list[ReasonCode]:
    """The reason codes that apply to ``verdict``, in :data:`REASON_CODES` order.

    ``face_input_side`` is the side of the face crop the version was trained at (0: not
    known, so ``face_too_small`` is never given); ``bits_per_pixel`` comes from
    :func:`bits_per_pixel` (None: not known, so ``heavy_compression`` is never given).
    """
    found: set[ReasonCode] = set()
    if face_aware and not verdict.faces_found:
        found.add("no_face")
    if face_aware and face_input_side > 0:
        side = deciding_face_side(verdict, frames, width, height)
        if side is not None and side < face_input_side:
            found.add("face_too_small")
    if len(frames) < MIN_SCORED_FRAMES:
        found.add("too_few_frames")
    if bits_per_pixel is not None and bits_per_pixel < MIN_BITS_PER_PIXEL:
        found.add("heavy_compression")
    if straddles(verdict.interval, verdict.threshold):
        found.add("near_threshold")
    scores = deciding_scores(verdict, frames)
    if len(scores) >= 2:
        q1, q3 = np.percentile(scores, [25, 75])
        if q3 - q1 > FRAMES_DISAGREE_IQR:
            found.add("frames_disagree")
    return [code for code in REASON_CODES if code in found]
