"""Explanations: where in each face the version saw a fake, as small PNG images.

On request (``explain=true``) the K most suspicious frames of every face track
(:func:`choose_frames`) are sent once more, in one batch, to the version's ``explain``
signature (:data:`contract.EXPLAIN_SIGNATURE`), which runs the same detector and returns
per face the crop it classified and a Grad-CAM map over that crop. Each track's faces are
found in that answer by their box (:func:`read_explanations`), and become two PNG data
URLs of the same size: the face crop and the map, an 8-bit grayscale image (value / 255 is
the map's value, 255 where the evidence for "fake" is strongest), so that a page lays one
over the other and colours the map as it likes.

PNG is written here with ``zlib`` (a few lines of the format) and images are resized with
numpy: the gateway image carries no imaging library.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import contract
from contract.aggregation import FrameResult
from contract.tracks import Track, iou

from ..errors import InferenceFailed
from ..upstream.serving_client import ServingClient
from ..upstream.serving_types import ModelRef, Prediction
from .answers import ScoredFrames
from .video import SampledFrame, letterbox_box_scale

#: A track's face and a face of the ``explain`` answer are the same face above this IoU.
MATCH_IOU = 0.5
#: Told when ``explain=true`` meets a version without an ``explain`` signature.
NO_EXPLAIN_WARNING = (
    "explanations were asked for, but the answering version has no "
    f"{contract.EXPLAIN_SIGNATURE!r} signature (only face-aware versions exported with a "
    "convolutional classifier have one): explanations are null"
)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Pick:
    """One face of a track chosen for an explanation."""

    track: int
    #: Index into the timeline (the sampled frames).
    frame: int
    #: The face's slot in that frame's ``serving_default`` answer.
    slot: int
    score: float


@dataclass(frozen=True)
class Explanation:
    """One explained face, ready for the response."""

    frame: int
    t_s: float
    score: float
    box: list[float]
    crop_box: list[float]
    face_png: str
    heatmap_png: str


def choose_frames(tracks: Sequence[Track], per_track: int) -> list[Pick]:
    """The ``per_track`` most suspicious faces of every track, most suspicious first.

    Ties go to the earlier frame, so the choice is deterministic.
    """
    picks: list[Pick] = []
    for track in tracks:
        faces = sorted(
            zip(track.frames, track.slots, track.scores, strict=True),
            key=lambda face: (-face[2], face[0]),
        )
        picks.extend(Pick(track.id, f, s, float(p)) for f, s, p in faces[:per_track])
    return picks


def frames_to_explain(picks: Sequence[Pick]) -> list[int]:
    """The distinct timeline indices ``picks`` need, in time order: one row each."""
    return sorted({pick.frame for pick in picks})


def png_bytes(image: np.ndarray) -> bytes:
    """A PNG of a uint8 image ``[H, W]`` (grayscale) or ``[H, W, 3]`` (RGB)."""
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        colour_type, channels = 0, 1
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        colour_type, channels = 2, 3
    else:
        raise ValueError(f"expected [H, W] or [H, W, 3] pixels, got {pixels.shape}")
    height, width = pixels.shape[:2]
    # Every row starts with filter type 0 (none); zlib does the compressing.
    rows = pixels.reshape(height, width * channels)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def png_data_url(image: np.ndarray) -> str:
    """``data:image/png;base64,...`` of a uint8 image (see :func:`png_bytes`)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def resize(image: np.ndarray, side: int) -> np.ndarray:
    """Bilinear resize of ``[H, W]`` or ``[H, W, C]`` to ``side x side`` (float32).

    Pixel centres are aligned as in OpenCV's ``INTER_LINEAR``: a map of ``h x w`` cells that
    covers the crop exactly still covers it after resizing.
    """
    data = np.asarray(image, np.float32)

    def axis(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = (np.arange(side, dtype=np.float32) + 0.5) * (n_in / side) - 0.5
        pos = np.clip(pos, 0.0, n_in - 1)
        low = np.floor(pos).astype(np.int64)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, pos - low

    y0, y1, fy = axis(data.shape[0])
    x0, x1, fx = axis(data.shape[1])
    extra = (1,) * (data.ndim - 2)
    fy = fy.reshape(-1, 1, *extra)
    fx = fx.reshape(1, -1, *extra)
    top = data[y0][:, x0] * (1 - fx) + data[y0][:, x1] * fx
    bottom = data[y1][:, x0] * (1 - fx) + data[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def heatmap_pixels(heatmap: np.ndarray, side: int) -> np.ndarray:
    """A map in ``[0, 1]`` as 8-bit grayscale ``side x side``."""
    return np.clip(np.round(resize(heatmap, side) * 255.0), 0, 255).astype(np.uint8)


def face_pixels(crop: np.ndarray, side: int) -> np.ndarray:
    """A uint8 RGB crop resized to ``side x side``."""
    return np.clip(np.round(resize(crop, side)), 0, 255).astype(np.uint8)


def read_explanations(
    picks: Sequence[Pick],
    rows: Sequence[int],
    answer: Prediction,
    frames: Sequence[SampledFrame],
    results: Sequence[FrameResult],
    side: int,
) -> dict[int, list[Explanation]]:
    """Each track's explanations from the ``explain`` answer to the frames ``rows``.

    A pick whose face the answer does not have (no box overlapping it by
    :data:`MATCH_IOU`) is left out.
    """
    try:
        boxes = np.asarray(answer.outputs[contract.FACE_BOXES], np.float64)
        crop_boxes = np.asarray(answer.outputs[contract.FACE_CROP_BOXES], np.float64)
        count = np.asarray(answer.outputs[contract.FACE_COUNT]).reshape(-1)
        crops = np.asarray(answer.outputs[contract.FACE_CROPS])
        maps = np.asarray(answer.outputs[contract.FACE_HEATMAPS], np.float32)
    except KeyError as exc:
        signature = contract.EXPLAIN_SIGNATURE
        raise InferenceFailed(f"the version's {signature!r} answer lacks {exc}") from exc
    if count.shape[0] != len(rows) or maps.ndim != 4 or crops.ndim != 5:
        raise InferenceFailed(f"the version's {contract.EXPLAIN_SIGNATURE!r} answer is malformed")
    row_of = {frame: row for row, frame in enumerate(rows)}
    out: dict[int, list[Explanation]] = {}
    for pick in picks:
        row = row_of[pick.frame]
        face = next(f for f in results[pick.frame].faces if f.slot == pick.slot)
        scale = np.asarray(letterbox_box_scale(frames[pick.frame]), np.float64)
        found = [
            (iou(face.box, list(np.clip(boxes[row, j] * scale, 0.0, 1.0))), j)
            for j in range(int(count[row]))
        ]
        overlap, slot = max(found, default=(0.0, -1))
        if overlap < MATCH_IOU:
            continue
        out.setdefault(pick.track, []).append(
            Explanation(
                frame=pick.frame,
                t_s=results[pick.frame].t_s,
                score=round(pick.score, 4),
                box=face.box,
                crop_box=[round(float(v), 4) for v in crop_boxes[row, slot] * scale],
                face_png=png_data_url(face_pixels(crops[row, slot], side)),
                heatmap_png=png_data_url(heatmap_pixels(maps[row, slot], side)),
            )
        )
    return out


async def explain_tracks(
    client: ServingClient,
    model: ModelRef,
    frames: Sequence[SampledFrame],
    scored: ScoredFrames,
    tracks: Sequence[Track],
    *,
    per_track: int,
    side: int,
) -> dict[int, list[Explanation]] | None:
    """Every track's explained faces, from one ``explain`` call to ``model``; None when the
    version cannot explain (whole-frame versions never can)."""
    if not scored.face_aware:
        return None
    picks = choose_frames(tracks, per_track)
    rows = frames_to_explain(picks)
    if not rows:
        return {}
    answer = await client.explain(model, np.stack([frames[i].image for i in rows]))
    if answer is None:
        return None
    return await asyncio.to_thread(
        read_explanations, picks, rows, answer, frames, scored.frames, side
    )
