"""Frame sampling: the contract's functions, and the same frames from both decoders.

The keyframe rule has its own tests (``test_keyframes.py``), and so have the frame size and
pixels (``test_frames.py``, ``test_same_pixels.py``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from contract import sampling
from contract.frames import DEFAULT_MAX_SIDE
from contract.sampling import (
    DEFAULT_FRAMES_PER_VIDEO,
    frame_time_s,
    half_frame_s,
    picks,
    sample_times,
    stream_timing,
)
from gateway.pipeline.probe import VideoLimits, probe
from gateway.pipeline.video import iter_frames
from gateway.pipeline.video import sample_times_of as gateway_sample_times
from model_export.video_io import decode_samples, sample_frames

LIMITS = VideoLimits(max_duration_s=600, max_frames=100_000, max_pixels=3840 * 2160)
#: Ten frames in the first second, then one every half second up to 5.5 s.
VFR_TIMES = [i * 0.1 for i in range(10)] + [1.0 + 0.5 * i for i in range(10)]


# --- the contract's functions ------------------------------------------------------------


def test_the_default_count_is_the_gateways() -> None:
    from gateway.settings import Settings

    assert DEFAULT_FRAMES_PER_VIDEO == 32
    assert Settings.model_fields["frames"].default == DEFAULT_FRAMES_PER_VIDEO


def test_uniform_times_run_from_the_first_frame_to_the_last() -> None:
    # 3 s at 10 fps: the last frame is shown at 2.9 s.
    times = sample_times(3.0, 10.0, 30, 4)
    assert times == pytest.approx([0.0, 2.9 / 3, 2 * 2.9 / 3, 2.9])
    assert len(sample_times(3.0, 10.0, 30)) == 30  # the default count, capped by the frames


def test_never_more_times_than_frames_and_at_least_one() -> None:
    assert sample_times(0.5, 10.0, 5, 32) == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert sample_times(2.0, 10.0, 20, 1) == [0.0]
    assert sample_times(0.0, 0.0, 0, 8) == [0.0]
    # Without a rate the span is the whole duration.
    assert sample_times(2.0, 0.0, 10, 3) == pytest.approx([0.0, 1.0, 2.0])


def test_rate_sampling() -> None:
    assert sample_times(3.0, 30.0, 90, 32, rate=2.0) == pytest.approx([0.5 * i for i in range(6)])
    # Capped by the count and by the frames the video holds.
    assert len(sample_times(60.0, 30.0, 1800, 8, rate=2.0)) == 8
    assert len(sample_times(3.0, 1.0, 3, 32, rate=10.0)) == 3
    assert sample_times(0.2, 30.0, 6, 32, rate=1.0) == [0.0]
    # No duration: uniform over nothing, one frame.
    assert sample_times(0.0, 30.0, 1, 32, rate=1.0) == [0.0]


def test_a_target_picks_the_first_frame_reaching_it_less_half_a_frame() -> None:
    assert half_frame_s(10.0) == pytest.approx(0.05)
    assert half_frame_s(0.0) == 0.0
    frames = [0.0, 0.1, 0.2, 0.3]

    def picked(target: float, fps: float = 10.0) -> float:
        return next(t for t in frames if picks(t, target, fps))

    assert picked(0.0) == 0.0
    assert picked(0.149) == 0.1  # nearer 0.1 than 0.2
    assert picked(0.151) == 0.2
    assert picked(0.15) == 0.1  # exactly half a frame late still picks the earlier frame
    assert picked(0.15, fps=0.0) == 0.2  # no rate: the first frame at or after the target


def test_frame_times() -> None:
    assert frame_time_s(3000, 1000, Fraction(1, 1000), previous_s=0.0, fps=30.0) == 2.0
    # No timestamp: one frame period after the latest frame.
    assert frame_time_s(None, 0, Fraction(1, 1000), previous_s=2.0, fps=10.0) == pytest.approx(2.1)
    assert frame_time_s(None, 0, Fraction(1, 1000), previous_s=2.0, fps=0.0) == 2.0


@dataclass
class _Packet:
    pts: int | None
    size: int = 100


@dataclass
class _Stream:
    """A stream whose headers tell nothing: no duration, no frame count, no rate."""

    packets: list[_Packet]
    duration: int | None = None
    frames: int = 0
    time_base: Fraction = Fraction(1, 1000)
    average_rate: Fraction | None = None
    guessed_rate: Fraction | None = None
    base_rate: Fraction | None = None


@dataclass
class _Container:
    stream: _Stream
    duration: int | None = None
    seeks: list[int] = field(default_factory=list)

    def seek(self, offset: int) -> None:
        self.seeks.append(offset)

    def demux(self, stream: _Stream) -> Iterator[_Packet]:
        # A generator, as PyAV's is: sampling.demuxed closes it.
        yield from stream.packets


def test_streams_without_headers_are_timed_by_counting_packets() -> None:
    # 11 frames at 100 ms, stored out of order (B-frames), and an empty flush packet.
    packets = [_Packet(pts) for pts in (0, 200, 100, 400, 300, 600, 500, 800, 700, 1000, 900)]
    stream = _Stream([*packets, _Packet(None, size=0)])
    container = _Container(stream)
    timing = stream_timing(container, stream)  # type: ignore[arg-type]
    assert container.seeks == [0]
    assert timing == sampling.StreamTiming(duration_s=1.0, fps=11.0, frame_count=11, counted=True)
    # A limit stops the count as soon as it is exceeded.
    assert stream_timing(container, stream, max_frames=4).frame_count == 5  # type: ignore[arg-type]


def test_headers_give_the_timing(make_clip) -> None:
    clip = make_clip(frames=45, fps=30, width=160, height=120)
    with av.open(str(clip)) as container:
        timing = stream_timing(container, container.streams.video[0])
    assert timing.fps == pytest.approx(30.0)
    assert timing.frame_count == 45
    assert timing.duration_s == pytest.approx(1.5, abs=0.05)
    assert not timing.counted


def test_the_contract_never_imports_tensorflow_or_a_program() -> None:
    code = (
        "import sys, contract.sampling, contract.frames; "
        "bad = {'tensorflow', 'gateway', 'model_export', 'serving'} & "
        "{m.split('.')[0] for m in sys.modules}; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


# --- the same frames through the gateway and model_export --------------------------------


def _through_both(clip: Path, count: int) -> None:
    info = probe(clip, LIMITS)
    times = gateway_sample_times(info, count)
    assert times == sample_times(info.duration_s, info.fps, info.frame_count, count)
    served = list(iter_frames(clip, info, times, max_side=DEFAULT_MAX_SIDE))
    trained = decode_samples(clip, count)
    assert [f.t_s for f in served] == trained.times_s
    assert len(trained.times_s) == len(times) == min(count, info.frame_count)
    for frame, image in zip(served, trained.frames, strict=True):
        assert frame.image.shape == image.shape
        assert np.array_equal(frame.image, image)


@pytest.mark.parametrize("count", [DEFAULT_FRAMES_PER_VIDEO, 16, 7, 1])
def test_constant_frame_rate(make_clip, count: int) -> None:
    _through_both(make_clip(frames=90, fps=30, width=160, height=120, gop=12), count)


def test_variable_frame_rate(make_clip) -> None:
    clip = make_clip(frames=20, frame_times=VFR_TIMES, width=160, height=120)
    _through_both(clip, DEFAULT_FRAMES_PER_VIDEO)
    _through_both(clip, 7)
    # Uniform in time: the gateway's targets, not the frame indices, decide.
    stamps = decode_samples(clip, 5).times_s
    assert sum(1 for t in stamps if t < 1.0) <= 2 and stamps[-1] >= 4.0


def test_a_clip_shorter_than_the_count(make_clip) -> None:
    clip = make_clip(frames=5, width=160, height=120)
    _through_both(clip, DEFAULT_FRAMES_PER_VIDEO)
    assert len(sample_frames(clip)) == 5


@pytest.mark.parametrize("matrix_degrees", [-90, 180])
def test_a_rotated_clip(make_clip, matrix_degrees: int) -> None:
    _through_both(make_clip(frames=12, width=160, height=96, rotation=matrix_degrees), 6)


def test_long_gaps_the_gateway_seeks_across(make_clip) -> None:
    # 10 s, 4 samples: gaps over the gateway's seek threshold, crossed by keyframe seeks.
    clip = make_clip(frames=300, fps=30, gop=15, width=96, height=64)
    _through_both(clip, 4)


def test_another_container(make_clip) -> None:
    # Matroska stores no per-stream duration: the container's is used.
    _through_both(make_clip("clip.mkv", frames=20, width=160, height=120), 8)


def test_real_clips(shared_data: Path) -> None:
    for clip in sorted(shared_data.glob("*/*.mp4"))[:4]:
        _through_both(clip, DEFAULT_FRAMES_PER_VIDEO)


@pytest.mark.parametrize(
    "folder", ["deeperforensics-challenge", "dfdc_icpr2020dfdc", "rope-benchmark"]
)
def test_real_clips_above_the_cap(shared_data: Path, folder: str) -> None:
    # 1080p, portrait 1080x1920 and 2048x1080: both sides scale them down alike.
    clip = sorted((shared_data / folder).glob("*.mp4"))[0]
    _through_both(clip, DEFAULT_FRAMES_PER_VIDEO)
    assert max(decode_samples(clip, 1).frames.shape[1:3]) == DEFAULT_MAX_SIDE
