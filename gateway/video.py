"""Decode stage: which frames to analyse, decoded as upright RGB at the size to send.

Decoding uses PyAV (FFmpeg): it exposes the display-rotation matrix, real
timestamps (variable frame rate) and ``skip_frame``, and scales plus converts a
frame to RGB in one swscale call.  Only the sampled frames are converted.
Probing the upload first is :mod:`gateway.probe`.
Which frames are sampled (times, the frame a time picks, the stream timing they come
from) is :mod:`contract.sampling`, shared with ``model_export``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from contract import sampling
from contract.frames import upright

from .budget import DecodeBudget
from .errors import InvalidVideo
from .probe import VideoInfo, open_video

log = logging.getLogger(__name__)

#: Forward gaps shorter than this are always decoded through (a seek costs more than the
#: few frames it could skip). Longer ones are crossed with a seek when a keyframe lies
#: between the frame at hand and the target (:func:`_keyframe_before`), wherever the
#: container's keyframes are: decode work then grows with the number of samples times the
#: GOP length, not with the clip's length.
SEEK_MIN_GAP_S = 0.25
#: Skip decoding frames that nothing refers to (most B-frames) when they come before
#: the next sample: such a frame can never be the one picked.
SKIP_UNREFERENCED = True


@dataclass(frozen=True)
class SampledFrame:
    """One decoded frame: its position in the sample, its time and its RGB pixels."""

    index: int
    t_s: float
    image: np.ndarray  # uint8 [H, W, 3], upright
    #: Height and width of the picture inside ``image`` (smaller when letterboxed).
    content: tuple[int, int] = (0, 0)


def sample_times(info: VideoInfo, frames: int, rate: float | None = None) -> list[float]:
    """Timestamps (seconds from the start) to sample: ``frames`` uniformly, or ``rate`` per second.

    :func:`contract.sampling.sample_times` for a probed video; never asks for more frames
    than the video holds.
    """
    return sampling.sample_times(info.duration_s, info.fps, info.frame_count, frames, rate)


def scaled_size(width: int, height: int, max_side: int, min_side: int = 0) -> tuple[int, int]:
    """The size a ``width`` x ``height`` frame is sent at.

    Never enlarged, the longer side at most ``max_side``, and no larger than needed for
    the shorter side to reach ``min_side`` (what the model needs; 0 for no need).
    Sides are even, which keeps swscale on its fast paths.
    """
    cap = min(1.0, max_side / max(width, height))
    need = min_side / min(width, height) if min_side > 0 else cap
    if need < cap:
        # Round up so that the shorter side still reaches min_side; never past the cap.
        def side(n: int) -> int:
            return max(2, min(int(n * cap) // 2 * 2, math.ceil(n * need / 2) * 2))
    else:

        def side(n: int) -> int:
            return max(2, int(n * cap) // 2 * 2)

    return side(width), side(height)


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int], rotation: int) -> np.ndarray:
    width, height = size
    image = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
    return upright(image, rotation)


def _letterbox(image: np.ndarray, canvas: int) -> np.ndarray:
    """Pad to ``canvas`` x ``canvas`` (black, bottom and right): every video, one shape."""
    out = np.zeros((canvas, canvas, 3), np.uint8)
    out[: image.shape[0], : image.shape[1]] = image
    return out


def letterbox_box_scale(frame: SampledFrame) -> list[float]:
    """``[sy, sx, sy, sx]`` that maps a box normalised to ``frame.image`` onto its picture.

    Undoes :func:`_letterbox`: a box the model found in the padded canvas, normalised to
    the canvas, becomes normalised to the picture inside it. 1s for frames sent as is.
    """
    height, width = frame.image.shape[:2]
    content_h, content_w = frame.content if frame.content[0] else (height, width)
    return [height / content_h, width / content_w, height / content_h, width / content_w]


def _decode(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    skip_before: Callable[[], float],
    budget: DecodeBudget | None,
) -> Iterator[av.VideoFrame]:
    """Decode ``stream`` packet by packet, within ``budget``.

    The budget is checked before every packet and charged for every frame decoded,
    including those never sampled: they cost as much.

    A packet whose own presentation time lies before ``skip_before()`` is decoded with
    ``skip_frame = NONREF``: FFmpeg then drops it unless another frame refers to it.
    Deciding per packet (not from the last frame out, which lags the input by the
    reorder delay) skips the most without ever dropping a frame that could be picked.
    """
    ctx = stream.codec_context
    start_pts, time_base = sampling.stream_clock(stream)
    for packet in container.demux(stream):
        if budget is not None:
            budget.check()
        skip = False
        if SKIP_UNREFERENCED and packet.pts is not None:
            skip = float((packet.pts - start_pts) * time_base) < skip_before()
        ctx.skip_frame = "NONREF" if skip else "DEFAULT"
        for frame in ctx.decode(packet):
            if budget is not None:
                budget.add_frame(frame.width, frame.height)
            yield frame


def _keyframe_before(
    index: av.container.InputContainer, stream: av.video.stream.VideoStream, target_pts: int
) -> int | None:
    """Presentation time of the last keyframe at or before ``target_pts`` (None if unknown).

    Asked of a second handle on the same file (``index``): a seek there and one packet read
    come from the container's index, nothing is decoded, and the decoding handle keeps its
    place and its decoder state.
    """
    try:
        index.seek(target_pts, stream=stream, backward=True, any_frame=False)
        for packet in index.demux(stream):
            if packet.size and packet.is_keyframe:
                return packet.pts
            if packet.size:
                return None
    except av.error.FFmpegError:
        return None
    return None


def iter_frames(
    path: Path,
    info: VideoInfo,
    times: list[float],
    *,
    max_side: int,
    min_side: int = 0,
    canvas: int | None = None,
    threads: bool = False,
    budget: DecodeBudget | None = None,
) -> Iterator[SampledFrame]:
    """Decode the frames at ``times`` (sorted), as upright RGB sized by :func:`scaled_size`.

    For every target time, yields the first frame whose timestamp reaches it, so that
    variable-frame-rate clips are sampled uniformly in time.  A forward gap that holds a
    keyframe is crossed with a seek to it (looked up on a second handle on the file), so a
    sample costs at most the frames from its keyframe.  A truncated stream yields the frames
    decoded before the damage; a stream with none raises :class:`InvalidVideo`.

    With ``canvas``, every video gets one shape, so that Serving's batching can merge
    requests from videos of any shape: frames are scaled to fit and letterboxed into a
    square of that side; but for a version that needs ``min_side`` (a whole-frame model,
    which stretches the whole frame to its input in its graph and would see letterbox
    padding) they are stretched to ``min_side`` x ``min_side`` instead.
    ``threads`` lets FFmpeg decode with frame and slice threads. With ``budget`` (started
    by the caller on this thread), decoding stops with its error once it is spent.
    """
    square: int | None = None
    if canvas is not None:
        if min_side > 0:
            square, canvas = min(min_side, canvas), None
        else:
            max_side = canvas
    if not times:
        return
    emitted = 0
    with open_video(path) as container, open_video(path) as index:
        stream = container.streams.video[0]
        index_stream = index.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        start_pts, time_base = sampling.stream_clock(stream)
        half_frame = sampling.half_frame_s(info.fps)
        seeking = True
        target_i = 0
        last_t = -math.inf
        restart = True
        size: tuple[int, int] | None = None
        # The target whose keyframe was looked up: one look-up per target, not per frame.
        looked_up = -1

        def skip_before() -> float:
            # A frame is picked for a target T when it is the first with t >= T - half
            # (sampling.picks); anything earlier than that (less a quarter frame for
            # rounding) never is.
            if half_frame <= 0 or target_i >= len(times):
                return -math.inf
            return times[target_i] - 1.5 * half_frame

        while target_i < len(times):
            if restart:
                decoder = _decode(container, stream, skip_before, budget)
                restart = False
            try:
                frame = next(decoder)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                log.warning("decode stopped early", extra={"error": str(exc), "frames": emitted})
                break
            t = sampling.frame_time_s(
                frame.pts, start_pts, time_base, previous_s=last_t, fps=info.fps
            )
            if t + 1e-6 < last_t and seeking:
                # A seek landed before where we already were: the GOP is longer than the
                # gap, so seeking only re-decodes. Decode straight through from here on.
                seeking = False
            last_t = max(last_t, t)
            if not sampling.picks(t, times[target_i], info.fps):
                gap = times[target_i] - t
                if seeking and gap > SEEK_MIN_GAP_S and looked_up != target_i:
                    looked_up = target_i
                    target_pts = int(times[target_i] / time_base) + start_pts
                    key = _keyframe_before(index, index_stream, target_pts)
                    # Only a keyframe past the frame at hand saves decoding: seeking to one
                    # before it would decode the same frames again.
                    ahead = key is not None and float((key - start_pts) * time_base) > t
                    if ahead and key is not None and key <= target_pts:
                        container.seek(target_pts, stream=stream, backward=True, any_frame=False)
                        restart = True
                continue
            if size is None:
                # Fixed for the whole video, so every batch has one shape even if a
                # (hostile) stream changes resolution midway.
                size = (
                    (square, square)
                    if square is not None
                    else scaled_size(frame.width, frame.height, max_side, min_side)
                )
            image = _to_rgb(frame, size, info.rotation)
            content = (image.shape[0], image.shape[1])
            if canvas is not None:
                image = _letterbox(image, canvas)
            # One decoded frame may serve several targets when sampling faster than the fps.
            while target_i < len(times) and sampling.picks(t, times[target_i], info.fps):
                t_s = round(t, sampling.TIME_DIGITS)
                yield SampledFrame(index=emitted, t_s=t_s, image=image, content=content)
                emitted += 1
                target_i += 1
    if emitted == 0:
        raise InvalidVideo("no frame could be decoded from the video stream")
