"""The keyframe rule: a target with a keyframe within half a sample's spacing picks it.

On clips encoded with a fixed GOP, so that the keyframes' times are known.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from contract import sampling
from contract.sampling import find_keyframe, keyframe_choices, keyframe_windows
from gateway.pipeline.probe import probe
from gateway.pipeline.video import DecodeStats, iter_frames, sample_times_of
from model_export.video_io import decode_samples

from .conftest import GOP_FPS, GOP_FRAMES, GOP_S, LIMITS, LONG_FRAMES, LONG_GOP_S


def _keyframes(path: Path) -> list[float]:
    """Every keyframe's time, by demuxing the whole file (the truth the index is checked on)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start, base = sampling.stream_clock(stream)
        return sorted(
            float((p.pts - start) * base) for p in container.demux(stream) if p.is_keyframe
        )


def _choices(path: Path, targets: list[float]) -> list[sampling.KeyframeChoice]:
    with av.open(str(path)) as index:
        return keyframe_choices(index, index.streams.video[0], targets)


def test_the_fixture_keyframes_are_where_the_gop_puts_them(gop_clip: Path) -> None:
    gops = GOP_FRAMES // int(GOP_S * GOP_FPS)
    assert _keyframes(gop_clip) == pytest.approx([GOP_S * i for i in range(gops)])


def test_windows_are_halfway_to_the_neighbours() -> None:
    assert keyframe_windows([0.0, 2.0, 4.0]) == [(-1.0, 1.0), (1.0, 3.0), (3.0, 5.0)]
    assert keyframe_windows([0.0, 4.0, 9.0]) == [(-2.0, 2.0), (2.0, 6.5), (6.5, 11.5)]
    # One target has no spacing: an empty window, the ordinary rule.
    assert keyframe_windows([3.0]) == [(3.0, 3.0)]
    assert keyframe_windows([]) == []


def test_the_index_gives_the_keyframes_either_side(gop_clip: Path) -> None:
    with av.open(str(gop_clip)) as index:
        stream = index.streams.video[0]
        before = find_keyframe(index, stream, 5.0)
        after = find_keyframe(index, stream, 5.0, after=True)
        on = find_keyframe(index, stream, 6.0, after=True)
        past = find_keyframe(index, stream, 19.5, after=True)
    assert before is not None and before.t_s == pytest.approx(4.0)
    assert after is not None and after.t_s == pytest.approx(6.0)
    assert on is not None and on.t_s == pytest.approx(6.0)
    assert past is None  # no keyframe after the last one


def test_the_nearest_keyframe_in_the_window_is_picked(gop_clip: Path) -> None:
    # Windows [-1.7, 1.7), [1.7, 5.0), [5.0, 8.3), [8.3, 11.7); keyframes every 2 s.
    choices = _choices(gop_clip, [0.0, 3.4, 6.6, 10.0])
    picked = [c.picked.t_s if c.picked else None for c in choices]
    assert picked == pytest.approx([0.0, 4.0, 6.0, 10.0])
    assert [c.before.t_s if c.before else None for c in choices] == pytest.approx(
        [0.0, 2.0, 6.0, 10.0]
    )


def test_a_tie_picks_the_earlier_keyframe(gop_clip: Path) -> None:
    # 5.0 is 1 s from both 4 and 6; its window [2.5, 7.5) holds both.
    choice = _choices(gop_clip, [0.0, 5.0, 10.0])[1]
    assert choice.picked is not None and choice.picked.t_s == pytest.approx(4.0)


def test_without_a_keyframe_in_the_window_the_ordinary_rule_stays(gop_clip: Path) -> None:
    # 0.5 s apart: windows a quarter second wide either side, none but the first holds one.
    choices = _choices(gop_clip, [0.0, 0.5, 1.0, 1.5])
    assert [c.picked is not None for c in choices] == [True, False, False, False]
    # A single target has no window, even on a keyframe.
    assert _choices(gop_clip, [4.0])[0].picked is None


def _served(clip: Path, times: list[float], stats: DecodeStats | None = None) -> list[float]:
    info = probe(clip, LIMITS)
    return [f.t_s for f in iter_frames(clip, info, times, max_side=640, stats=stats)]


def test_the_gateway_picks_the_keyframes(gop_clip: Path) -> None:
    assert _served(gop_clip, [0.0, 3.4, 6.6, 10.0]) == pytest.approx([0.0, 4.0, 6.0, 10.0])


@pytest.mark.parametrize("count", [32, 12, 9, 5, 2])
def test_picks_follow_the_rule_and_never_decrease(gop_clip: Path, count: int) -> None:
    info = probe(gop_clip, LIMITS)
    times = sample_times_of(info, count)
    keys = _keyframes(gop_clip)
    served = _served(gop_clip, times)
    trained = decode_samples(gop_clip, count).times_s
    assert served == trained
    assert served == sorted(served)
    for t, got, (lo, hi) in zip(times, served, keyframe_windows(times), strict=True):
        inside = [k for k in keys if lo <= k < hi]
        if inside:
            nearest = min(inside, key=lambda k: (abs(k - t), k))
            assert got == pytest.approx(nearest, abs=1e-4)
        else:
            assert abs(got - t) <= 0.5 / info.fps + 1e-4


def test_a_long_gop_clip_decodes_about_one_frame_per_sample(long_gop_clip: Path) -> None:
    info = probe(long_gop_clip, LIMITS)
    assert info.frame_count == LONG_FRAMES
    count = 32
    times = sample_times_of(info, count)
    stats = DecodeStats()
    served = _served(long_gop_clip, times, stats)
    assert len(served) == count
    # Every sample is a keyframe (one within half the 19.5 s spacing), reached by a seek.
    assert all(round(t / LONG_GOP_S, 6).is_integer() for t in served), served
    assert stats.frames <= count + 2, stats
    # Without the keyframe rule each target costs the frames from the keyframe before it,
    # of which at least one in three is referenced and decoded even with skipping.
    without = sum(int((t % LONG_GOP_S) * info.fps) + 1 for t in times)
    assert stats.frames * 4 < without / 3
    # Training decodes the same frames, the same pixels (in one pass, without seeking).
    trained = decode_samples(long_gop_clip, count)
    assert trained.times_s == served
    again = list(iter_frames(long_gop_clip, info, times, max_side=640))
    assert np.array_equal(np.stack([f.image for f in again]), trained.frames)
