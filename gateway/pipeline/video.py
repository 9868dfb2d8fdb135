"""Decode stage: which frames to analyse, decoded as upright RGB at the size to send.

Decoding uses PyAV (FFmpeg): it exposes the display-rotation matrix, real
timestamps (variable frame rate) and ``skip_frame``, and scales plus converts a
frame to RGB in one swscale call.  Only the sampled frames are converted.
Probing the upload first is :mod:`gateway.pipeline.probe`.
Which frames are sampled (times, the keyframe rule, the stream timing they come from) is
:mod:`contract.sampling`; their size, their pixels and the pick loop are
:mod:`contract.frames`. Both are shared with ``model_export``, which decodes the same
frames for training and evaluation; this module adds only what makes serving cheap
(seeking, skipping unreferenced frames, the decode budget, the letterbox canvas).
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
from contract.frames import Picker, scaled_size, to_rgb

from ..errors import InvalidVideo
from .budget import DecodeBudget
from .probe import VideoInfo, open_video

log = logging.getLogger(__name__)

#: Forward gaps shorter than this are always decoded through (a seek costs more than the
#: few frames it could skip). Longer ones are crossed with a seek when a keyframe lies
#: between the frame at hand and the frame needed: the keyframe a target picks
#: (:func:`contract.sampling.keyframe_choices`), or else the last one before the target.
#: Decode work then grows with the number of samples, not with the clip's length: about
#: one frame per sample where the keyframe rule applies, at most a GOP where it does not.
SEEK_MIN_GAP_S = 0.25
#: Skip decoding frames that nothing refers to (most B-frames) when they come before
#: the next sample: such a frame can never be the one picked.
SKIP_UNREFERENCED = True


@dataclass
class DecodeStats:
    """What one :func:`iter_frames` call cost, counted as it decodes."""

    #: Frames out of the codec, sampled or not (each costs a full decode).
    frames: int = 0
    #: Seeks made to cross a gap.
    seeks: int = 0


@dataclass(frozen=True)
class SampledFrame:
    """One decoded frame: its position in the sample, its time and its RGB pixels."""

    index: int
    t_s: float
    image: np.ndarray  # uint8 [H, W, 3], upright
    #: Height and width of the picture inside ``image`` (smaller when letterboxed).
    content: tuple[int, int] = (0, 0)


def sample_times_of(info: VideoInfo, frames: int, rate: float | None = None) -> list[float]:
    """Timestamps (seconds from the start) to sample: ``frames`` uniformly, or ``rate`` per second.

    :func:`contract.sampling.sample_times` for a probed video; never asks for more frames
    than the video holds. A still image has one frame, at 0.
    """
    if info.kind == "image":
        return [0.0]
    return sampling.sample_times(info.duration_s, info.fps, info.frame_count, frames, rate)


def _letterbox(image: np.ndarray, canvas: int) -> np.ndarray:
    """Pad to ``canvas`` x ``canvas`` (black, bottom and right): every video, one shape."""
    out = np.zeros((canvas, canvas, 3), np.uint8)
    out[: image.shape[0], : image.shape[1]] = image
    return out


class FrameShaper:
    """The size and shape every sampled frame of one upload is sent at.

    :func:`contract.frames.scaled_size` of the first frame (the cap, a version's
    ``min_side``), fixed for the whole upload so that every batch has one shape even if a
    (hostile) stream changes resolution midway; then :func:`contract.frames.to_rgb`. With
    ``canvas``, frames are scaled to fit and letterboxed into a square of that side, but for
    a version that needs ``min_side`` (a whole-frame model, which stretches the whole frame
    to its input in its graph and would see letterbox padding) they are stretched to
    ``min_side`` x ``min_side`` instead. Videos (:func:`iter_frames`) and still images
    (:mod:`gateway.pipeline.image`) both go through it.
    """

    def __init__(self, *, max_side: int, min_side: int = 0, canvas: int | None = None) -> None:
        self._square: int | None = None
        if canvas is not None:
            if min_side > 0:
                self._square, canvas = min(min_side, canvas), None
            else:
                max_side = canvas
        self.max_side, self.min_side, self.canvas = max_side, min_side, canvas
        #: ``(width, height)`` before rotation, set by the first frame shaped.
        self.size: tuple[int, int] | None = None

    def shape(self, frame: av.VideoFrame, rotation: int) -> tuple[np.ndarray, tuple[int, int]]:
        """``frame`` as the RGB image to send, and the height and width of the picture in it
        (smaller than the image when letterboxed)."""
        if self.size is None:
            self.size = (
                (self._square, self._square)
                if self._square is not None
                else scaled_size(frame.width, frame.height, self.max_side, self.min_side)
            )
        image = to_rgb(frame, self.size, rotation)
        content = (image.shape[0], image.shape[1])
        if self.canvas is not None:
            image = _letterbox(image, self.canvas)
        return image, content


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
    stats: DecodeStats,
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
    # Left suspended on every seek and once the last target is picked: closing this
    # generator closes the demux (see sampling.demuxed).
    with sampling.demuxed(container, stream) as packets:
        for packet in packets:
            if budget is not None:
                budget.check()
            skip = False
            if SKIP_UNREFERENCED and packet.pts is not None:
                skip = float((packet.pts - start_pts) * time_base) < skip_before()
            ctx.skip_frame = "NONREF" if skip else "DEFAULT"
            for frame in ctx.decode(packet):
                stats.frames += 1
                if budget is not None:
                    budget.add_frame(frame.width, frame.height)
                yield frame


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
    stats: DecodeStats | None = None,
) -> Iterator[SampledFrame]:
    """Decode the frames at ``times`` (sorted), as upright RGB sized by
    :func:`contract.frames.scaled_size`.

    Each target time gets the frame :class:`contract.frames.Picker` picks for it: the
    nearest keyframe within half a sample's spacing, else the first frame whose timestamp
    reaches it (so variable-frame-rate clips are sampled uniformly in time); the keyframes
    are looked up in the container's index on a second handle on the file. A forward gap
    is crossed with a seek to the keyframe the next target decodes from, so a sample costs
    one frame where the keyframe rule applies and at most a GOP where it does not. A
    truncated stream yields the frames decoded before the damage; a stream with none
    raises :class:`InvalidVideo`.

    With ``canvas``, every video gets one shape, so that Serving's batching can merge
    requests from videos of any shape (:class:`FrameShaper` says how).
    ``threads`` lets FFmpeg decode with frame and slice threads. With ``budget`` (started
    by the caller on this thread), decoding stops with its error once it is spent.
    ``stats``, when given, counts the frames decoded and the seeks made.
    """
    shaper = FrameShaper(max_side=max_side, min_side=min_side, canvas=canvas)
    if not times:
        return
    stats = stats if stats is not None else DecodeStats()
    emitted = 0
    with open_video(path) as container, open_video(path) as index:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        start_pts, time_base = sampling.stream_clock(stream)
        picker = Picker.for_stream(index, index.streams.video[0], times, info.fps)
        quarter_frame = sampling.half_frame_s(info.fps) / 2
        seeking = True
        last_t = -math.inf
        restart = True
        # The target whose gap was considered for a seek: one decision per target.
        considered = -1

        def skip_before() -> float:
            # No frame earlier than the next target's earliest (less a quarter frame for
            # rounding) is ever picked.
            if quarter_frame <= 0 or picker.done:
                return -math.inf  # no frame rate to pad with: skip nothing
            return picker.earliest_s() - quarter_frame

        while not picker.done:
            if restart:
                # Rebinding drops the previous generator, which closes its demux.
                decoder = _decode(container, stream, skip_before, budget, stats)
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
                # A seek landed before where we already were: the index misleads, so
                # seeking only re-decodes. Decode straight through from here on.
                seeking = False
            last_t = max(last_t, t)
            served = picker.take(t)
            # Decided right after a pick too, so no frame past it is decoded in vain.
            if seeking and not picker.done and considered != picker.next:
                earliest = picker.earliest_s()
                if earliest - t > SEEK_MIN_GAP_S:
                    considered = picker.next
                    key = picker.choice().start
                    # Only a keyframe past the frame at hand saves decoding, and none past
                    # the frame needed may be jumped to.
                    if key is not None and t < key.t_s <= earliest + sampling.KEYFRAME_SLACK_S:
                        container.seek(key.pts, stream=stream, backward=True, any_frame=False)
                        stats.seeks += 1
                        restart = True
            if not served:
                continue
            image, content = shaper.shape(frame, info.rotation)
            # One decoded frame may serve several targets when sampling faster than the fps.
            t_s = round(t, sampling.TIME_DIGITS)
            for _ in range(served):
                yield SampledFrame(index=emitted, t_s=t_s, image=image, content=content)
                emitted += 1
    if emitted == 0:
        raise InvalidVideo("no frame could be decoded from the video stream")
