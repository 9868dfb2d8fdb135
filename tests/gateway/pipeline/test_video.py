"""Probe and decode stages on real H.264 clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.errors import InvalidVideo, VideoLimitExceeded
from gateway.pipeline.probe import VideoLimits, probe
from gateway.pipeline.video import iter_frames, sample_times_of

LIMITS = VideoLimits(max_duration_s=600, max_frames=100_000, max_pixels=3840 * 2160)


def _corner(image: np.ndarray) -> str:
    """Which corner holds the bright marker square the fixture draws top-left."""
    corners = {
        "top-left": image[:4, :4],
        "top-right": image[:4, -4:],
        "bottom-left": image[-4:, :4],
        "bottom-right": image[-4:, -4:],
    }
    return max(corners, key=lambda k: float(corners[k].mean()))


def test_probe_reports_stream_properties(make_clip) -> None:
    clip = make_clip(width=320, height=240, frames=45, fps=30)
    info = probe(clip, LIMITS)
    assert (info.width, info.height) == (320, 240)
    assert info.fps == pytest.approx(30.0)
    assert info.frame_count == 45
    assert info.duration_s == pytest.approx(1.5, abs=0.1)
    assert info.rotation == 0
    assert info.codec == "h264"


def test_uniform_sampling_spans_the_clip(make_clip) -> None:
    clip = make_clip(frames=90, fps=30)
    info = probe(clip, LIMITS)
    times = sample_times_of(info, 8)
    frames = list(iter_frames(clip, info, times, max_side=640))
    assert len(frames) == 8
    stamps = [f.t_s for f in frames]
    assert stamps == sorted(stamps)
    assert stamps[0] == pytest.approx(0.0, abs=0.04)
    assert stamps[-1] >= 2.8
    assert all(f.image.dtype == np.uint8 and f.image.shape == (240, 320, 3) for f in frames)


def test_never_samples_more_frames_than_the_clip_has(make_clip) -> None:
    clip = make_clip(frames=5)
    info = probe(clip, LIMITS)
    frames = list(iter_frames(clip, info, sample_times_of(info, 32), max_side=640))
    assert len(frames) == 5
    assert len({f.t_s for f in frames}) == 5


def test_frames_are_downscaled_before_sending(make_clip) -> None:
    clip = make_clip(width=640, height=360, frames=4)
    info = probe(clip, LIMITS)
    frames = list(iter_frames(clip, info, sample_times_of(info, 2), max_side=320))
    assert frames[0].image.shape == (180, 320, 3)


def test_frames_are_decoded_at_the_models_size(make_clip) -> None:
    clip = make_clip(width=640, height=360, frames=4)
    info = probe(clip, LIMITS)
    frames = list(iter_frames(clip, info, sample_times_of(info, 2), max_side=640, min_side=90))
    assert frames[0].image.shape == (90, 160, 3)
    # With a canvas (one shape for Serving's batching), a version that needs a side stretches
    # whole frames in its graph: it gets them stretched to that square, not letterboxed.
    square = next(iter(iter_frames(clip, info, [0.0], max_side=640, min_side=90, canvas=256)))
    assert square.image.shape == (90, 90, 3) and square.content == (90, 90)
    assert _corner(square.image) == "top-left"
    # A version with no stated need (face-aware) gets the letterbox.
    boxed = next(iter(iter_frames(clip, info, [0.0], max_side=640, min_side=0, canvas=256)))
    assert boxed.image.shape == (256, 256, 3) and boxed.content == (144, 256)


@pytest.mark.parametrize(
    ("matrix_degrees", "clockwise", "corner"),
    [
        (None, 0, "top-left"),
        (-90, 90, "top-right"),
        (90, 270, "bottom-left"),
        (180, 180, "bottom-right"),
    ],
)
def test_rotation_metadata_is_honoured(make_clip, matrix_degrees, clockwise, corner) -> None:
    clip = make_clip(width=320, height=240, frames=6, rotation=matrix_degrees)
    info = probe(clip, LIMITS)
    assert info.rotation == clockwise
    upright = (240, 320) if clockwise in (90, 270) else (320, 240)
    assert (info.width, info.height) == upright
    frame = next(iter(iter_frames(clip, info, [0.0], max_side=640)))
    assert frame.image.shape[:2] == (upright[1], upright[0])
    assert _corner(frame.image) == corner


def test_variable_frame_rate_is_sampled_by_time(make_clip) -> None:
    # Ten frames in the first second, then one every half second up to 5.5 s.
    times = [i * 0.1 for i in range(10)] + [1.0 + 0.5 * i for i in range(10)]
    clip = make_clip(frames=20, frame_times=times)
    info = probe(clip, LIMITS)
    frames = list(iter_frames(clip, info, sample_times_of(info, 5), max_side=640))
    stamps = [f.t_s for f in frames]
    # Uniform in time: at most two samples inside the dense first second.
    assert sum(1 for t in stamps if t < 1.0) <= 2
    assert stamps[-1] >= 4.0


def test_long_gaps_are_crossed_by_seeking(make_clip) -> None:
    clip = make_clip(frames=300, fps=30, gop=15, width=160, height=120)
    info = probe(clip, LIMITS)
    frames = list(iter_frames(clip, info, [0.0, 4.0, 9.0], max_side=640))
    assert [round(f.t_s, 1) for f in frames] == [0.0, 4.0, 9.0]


def test_not_a_video_is_rejected(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("this is not a video\n" * 100)
    with pytest.raises(InvalidVideo):
        probe(bogus, LIMITS)


def test_truncated_video_yields_what_decodes_or_a_clear_error(make_clip, tmp_path: Path) -> None:
    clip = make_clip(frames=60, width=320, height=240)
    data = clip.read_bytes()
    head = tmp_path / "head.mp4"
    head.write_bytes(data[:200])
    with pytest.raises(InvalidVideo):
        probe(head, LIMITS)


@pytest.mark.parametrize(
    ("limits", "word"),
    [
        (VideoLimits(max_duration_s=1.0, max_frames=100_000, max_pixels=10**8), "duration"),
        (VideoLimits(max_duration_s=600, max_frames=10, max_pixels=10**8), "frames"),
        (VideoLimits(max_duration_s=600, max_frames=100_000, max_pixels=320 * 200), "resolution"),
    ],
)
def test_limits_name_what_was_exceeded(make_clip, limits, word) -> None:
    clip = make_clip(frames=60, fps=30, width=320, height=240)
    with pytest.raises(VideoLimitExceeded, match=word):
        probe(clip, limits)


def _same_frames_with_and_without_skipping(clip: Path, count: int, monkeypatch) -> None:
    import gateway.pipeline.video as video

    info = probe(clip, LIMITS)
    times = sample_times_of(info, count)
    monkeypatch.setattr(video, "SKIP_UNREFERENCED", True)
    skipping = list(iter_frames(clip, info, times, max_side=320))
    monkeypatch.setattr(video, "SKIP_UNREFERENCED", False)
    decoding_all = list(iter_frames(clip, info, times, max_side=320))
    assert [f.t_s for f in skipping] == [f.t_s for f in decoding_all]
    for a, b in zip(skipping, decoding_all, strict=True):
        assert np.array_equal(a.image, b.image)


def test_skipping_unreferenced_frames_picks_the_same_frames(make_clip, monkeypatch) -> None:
    clip = make_clip(width=320, height=240, frames=120, fps=30, gop=30)
    _same_frames_with_and_without_skipping(clip, 10, monkeypatch)
    times = [i * 0.1 for i in range(10)] + [1.0 + 0.5 * i for i in range(10)]
    vfr = make_clip("vfr.mp4", frames=20, frame_times=times)
    _same_frames_with_and_without_skipping(vfr, 7, monkeypatch)


def test_skipping_picks_the_same_frames_on_real_clips(shared_data, monkeypatch) -> None:
    for clip in sorted(shared_data.glob("*/*.mp4"))[:6]:
        _same_frames_with_and_without_skipping(clip, 16, monkeypatch)


def test_letterboxed_frames_share_one_shape(make_clip) -> None:
    wide = make_clip("wide.mp4", width=320, height=180, frames=4)
    tall = make_clip("tall.mp4", width=180, height=320, frames=4)
    shapes, contents = set(), []
    for clip in (wide, tall):
        info = probe(clip, LIMITS)
        frame = next(iter(iter_frames(clip, info, [0.0], max_side=640, canvas=256)))
        shapes.add(frame.image.shape)
        contents.append(frame.content)
        h, w = frame.content
        assert frame.image[h:, :].max(initial=0) == 0 and frame.image[:, w:].max(initial=0) == 0
        assert _corner(frame.image[:h, :w]) == "top-left"
    assert shapes == {(256, 256, 3)}
    assert contents == [(144, 256), (256, 144)]


def test_threaded_decoding_picks_the_same_frames(make_clip) -> None:
    clip = make_clip(width=320, height=240, frames=90, fps=30, gop=30)
    info = probe(clip, LIMITS)
    times = sample_times_of(info, 9)
    threaded = list(iter_frames(clip, info, times, max_side=320, threads=True))
    single = list(iter_frames(clip, info, times, max_side=320, threads=False))
    assert [f.t_s for f in threaded] == [f.t_s for f in single]
    for a, b in zip(threaded, single, strict=True):
        assert np.array_equal(a.image, b.image)
