"""Which frames of a video are scored: how many, at which times, and which decoded frame.

Part of the contract because a version's threshold only means something for the frames
it was calibrated on: ``model_export`` trains, calibrates, evaluates and gates versions on
frames sampled by these functions, and the gateway scores uploads on frames sampled by
them, so the frames a threshold is judged on are the frames the service computes.

It holds:

* :data:`DEFAULT_FRAMES_PER_VIDEO`, the number of frames a video is scored on by default (the
  ``confident`` rule of :mod:`contract.aggregation` counts frames, so it depends on it);
* :func:`stream_timing`, the duration, frame rate and frame count read from a container,
  which the sample times are computed from;
* :func:`sample_times`, the target times: uniform over the clip, or a rate per second;
* :func:`frame_time_s` and :func:`picks`, the time of a decoded frame and the rule that
  decides whether it is the frame a target time picks (the first frame whose timestamp
  reaches the target less half a frame);
* :func:`keyframe_choices`, the keyframe-aware part of that rule: a target with a keyframe
  within half a sample's spacing picks the nearest such keyframe instead (below);
* :func:`demuxed`, the one way every decoder reads packets: a demux that is always closed.

Every decoder applies these through :class:`contract.frames.Picker`, which also holds the
size and pixel rules.

The keyframe rule. Decoding the frame at a target costs every reference frame from the keyframe
before it, so on a long GOP a sample costs a GOP. A keyframe costs one frame. So a target
``T`` whose *window* holds a keyframe picks the keyframe nearest ``T`` in it (the earlier
one on a tie); otherwise the rule above. The window is half-open, from halfway to the
previous target to halfway to the next one (``[T - s/2, T + s/2)`` for uniform targets
``s`` apart; the first and last targets mirror their one neighbour), so windows never
overlap and the picked times stay in order. A single target has no spacing and no window:
it keeps the rule above. Keyframes are found from the container's index, never by
decoding: on a second handle on the file, a backward seek to ``T`` gives the last keyframe
at or before it and a forward seek the first one at or after it, one packet read each
(:func:`find_keyframe`); the nearer of the two, if inside the window, is picked. Where the
index cannot tell (no index, a failed seek, a first packet that is no keyframe) the target
keeps the rule above. The training side and the gateway call the same function on the same
file, so they pick the same frames.

Needs PyAV and numpy only: it must not import TensorFlow, nor ``gateway``,
``model_export`` or ``serving``. Limits (longest video, most frames) and their errors
belong to the callers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

import av

#: Frames a video is scored on when nothing else is asked: the gateway's default, so the
#: threshold a version ships is judged on what the gateway computes.
DEFAULT_FRAMES_PER_VIDEO = 32
#: Digits a frame's timestamp (seconds) is reported with.
TIME_DIGITS = 4


@contextmanager
def demuxed(
    container: av.container.InputContainer, stream: av.stream.Stream
) -> Iterator[Iterator[av.Packet]]:
    """``container.demux(stream)``, closed when the block is left.

    PyAV's demux generator frees its native read packet only when it is closed or runs
    out. One dropped while suspended (a loop left by ``break``, ``return`` or an error)
    leaks it: about 150 bytes of C heap each (PyAV 18.1), and the gateway stops a demux
    early some thirty times per video (the keyframe look-ups, the first frame, seeks).
    """
    packets = container.demux(stream)
    try:
        yield packets
    finally:
        packets.close()


@dataclass(frozen=True)
class StreamTiming:
    """How long a video stream lasts and how many frames it holds, as sampling needs it."""

    duration_s: float
    fps: float
    frame_count: int
    #: True when ``frame_count`` was counted by demuxing packets (no usable header).
    counted: bool = False


def stream_timing(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    *,
    max_frames: int | None = None,
) -> StreamTiming:
    """Duration, frame rate and frame count of ``stream`` from its headers.

    Streams whose headers give no duration, or neither a frame count nor a rate, are
    demuxed (not decoded) to count packets and measure their span; ``max_frames`` stops
    that count once it is exceeded (the result then holds ``max_frames + 1``), so that a
    caller with a limit never reads a huge file to the end. The count seeks ``container``
    back to the start.
    """
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    duration_s = _header_duration_s(container, stream)
    frames = int(stream.frames or 0)
    counted = False
    if duration_s <= 0 or (frames <= 0 and fps <= 0):
        duration_s, frames = _scan_packets(container, stream, max_frames)
        counted = True
    if frames <= 0:
        frames = max(1, round(duration_s * fps))
    if fps <= 0 and duration_s > 0:
        fps = frames / duration_s
    return StreamTiming(duration_s=duration_s, fps=fps, frame_count=frames, counted=counted)


def _header_duration_s(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _scan_packets(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    max_frames: int | None,
) -> tuple[float, int]:
    """Count packets and their span by demuxing, for streams without a duration."""
    container.seek(0)
    count, last = 0, None
    first = None
    try:
        with demuxed(container, stream) as packets:
            for packet in packets:
                if packet.size == 0:
                    continue
                count += 1
                if max_frames is not None and count > max_frames:
                    break
                if packet.pts is not None:
                    first = packet.pts if first is None else min(first, packet.pts)
                    last = packet.pts if last is None else max(last, packet.pts)
    except av.error.FFmpegError:
        pass  # a truncated tail still leaves the frames counted so far
    if first is None or last is None or not stream.time_base or last <= first:
        return 0.0, count
    return float((last - first) * stream.time_base), count


def sample_times(
    duration_s: float,
    fps: float,
    frame_count: int,
    frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO,
    rate: float | None = None,
) -> list[float]:
    """Target times (seconds from the start) of the frames to score.

    ``frames_per_video`` times spread uniformly from the first frame to the last one (the duration
    less one frame), or, with ``rate``, ``rate`` per second from the start, at most
    ``frames_per_video``. Never more times than the video holds frames, and always at least one.
    """
    if rate is not None and duration_s > 0:
        n = max(1, math.floor(duration_s * rate))
        n = min(n, frames_per_video, frame_count)
        step = 1.0 / rate
        return [i * step for i in range(n)]
    n = max(1, min(frames_per_video, frame_count))
    span = max(duration_s - (1.0 / fps if fps > 0 else 0.0), 0.0)
    if n == 1:
        return [0.0]
    return [span * i / (n - 1) for i in range(n)]


def half_frame_s(fps: float) -> float:
    """Half a frame period: how early a frame may be and still be picked for a target."""
    return 0.5 / fps if fps > 0 else 0.0


def picks(frame_t_s: float, target_s: float, fps: float) -> bool:
    """Whether a decoded frame at ``frame_t_s`` may serve the target time ``target_s``.

    Frames come in time order and, for a target the keyframe rule gives no keyframe
    (:func:`keyframe_choices`), the first one for which this holds is the frame the
    target picks: the first whose timestamp reaches the target less half a frame, i.e.
    the frame nearest the target on a constant-rate clip, and on a variable-rate clip the
    first one shown at (or just before) that time. One frame may serve several targets
    when they are closer together than its duration.
    """
    return target_s <= frame_t_s + half_frame_s(fps)


def frame_time_s(
    pts: int | None, start_pts: int, time_base: Fraction, *, previous_s: float, fps: float
) -> float:
    """Seconds from the stream's start of a decoded frame with presentation time ``pts``.

    A frame without a timestamp is taken to follow ``previous_s`` (the latest frame time
    seen) by one frame period.
    """
    if pts is not None:
        return float((pts - start_pts) * time_base)
    return previous_s + (1.0 / fps if fps > 0 else 0.0)


def stream_clock(stream: av.video.stream.VideoStream) -> tuple[int, Fraction]:
    """The ``start_pts`` and ``time_base`` that :func:`frame_time_s` measures ``stream`` with."""
    return stream.start_time or 0, stream.time_base or Fraction(1, 90000)


#: Slack when matching a decoded frame's time to a keyframe's (both read from the same pts).
KEYFRAME_SLACK_S = 1e-6


@dataclass(frozen=True)
class Keyframe:
    """A keyframe of a stream, as its packet gives it."""

    #: Presentation timestamp, in the stream's time base (what a seek takes).
    pts: int
    #: Seconds from the stream's start, as :func:`frame_time_s` measures frames.
    t_s: float


@dataclass(frozen=True)
class KeyframeChoice:
    """What the keyframe rule decided for one target time."""

    #: The keyframe the target picks (inside its window), or None: the ordinary rule.
    picked: Keyframe | None
    #: The last keyframe at or before the target, where decoding for it may start.
    before: Keyframe | None

    @property
    def start(self) -> Keyframe | None:
        """The keyframe decoding for this target may start from (a seek target)."""
        return self.picked or self.before


def keyframe_windows(targets: list[float]) -> list[tuple[float, float]]:
    """Per target, the half-open window ``[lo, hi)`` a keyframe must lie in to be picked.

    Bounds are halfway to the neighbouring targets; the first and last targets mirror
    their one neighbour. A single target gets an empty window (no spacing, no rule).
    """
    if len(targets) < 2:
        return [(t, t) for t in targets]
    mids = [(a + b) / 2 for a, b in itertools.pairwise(targets)]
    lows = [2 * targets[0] - mids[0], *mids]
    highs = [*mids, 2 * targets[-1] - mids[-1]]
    return list(zip(lows, highs, strict=True))


def find_keyframe(
    index: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    t_s: float,
    *,
    after: bool = False,
) -> Keyframe | None:
    """The keyframe the container's index gives for ``t_s``, without decoding anything.

    The last keyframe at or before ``t_s``, or with ``after`` the first one at or after it,
    found by a seek on ``index`` (a handle on the file that no decoder uses: the seek moves
    it) and one packet read. The index orders keyframes by decoding time, so with
    reordered frames the one found may lie a frame or two past ``t_s``. None when the seek
    fails or the first packet there is no keyframe.
    """
    start_pts, time_base = stream_clock(stream)
    ticks = t_s / time_base
    pts = start_pts + (math.ceil(ticks) if after else math.floor(ticks))
    try:
        index.seek(pts, stream=stream, backward=not after, any_frame=False)
        with demuxed(index, stream) as packets:
            for packet in packets:
                if not packet.size:
                    continue
                if not packet.is_keyframe or packet.pts is None:
                    return None
                t = frame_time_s(packet.pts, start_pts, time_base, previous_s=0.0, fps=0.0)
                return Keyframe(pts=int(packet.pts), t_s=t)
    except av.error.FFmpegError:
        return None
    return None


def keyframe_choices(
    index: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    targets: list[float],
) -> list[KeyframeChoice]:
    """The keyframe rule (see the module docstring) for sorted ``targets`` of ``stream``.

    Two index look-ups per target (one for a single target), on ``index``, a handle on the
    file that no decoder uses.
    """
    choices = []
    for target, (lo, hi) in zip(targets, keyframe_windows(targets), strict=True):
        before = find_keyframe(index, stream, target)
        candidates = [before]
        if hi > lo:
            candidates.append(find_keyframe(index, stream, target, after=True))
        # Nearest to the target first, the earlier on a tie: deterministic.
        inside = sorted(
            (k for k in candidates if k is not None and lo <= k.t_s < hi),
            key=lambda k: (abs(k.t_s - target), k.t_s),
        )
        choices.append(KeyframeChoice(picked=inside[0] if inside else None, before=before))
    return choices
