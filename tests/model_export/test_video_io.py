"""H.264 encode/decode with PyAV and frame sampling by time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.pipeline.probe import VideoLimits, probe
from gateway.pipeline.video import iter_frames
from model_export.video_io import decode_samples, encode_clip, sample_frames
from tests.videos import clip_info, count_frames, write_clip


def test_short_clips_give_every_frame_once(tmp_path: Path) -> None:
    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(5)]
    path = encode_clip(frames, tmp_path / "short.mp4", fps=10, crf=10)
    sampled = decode_samples(path, 32)
    assert sampled.frames.shape == (5, 48, 64, 3)
    assert sampled.times_s == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_roundtrip(tmp_path: Path) -> None:
    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(20)]
    path = encode_clip(frames, tmp_path / "c.mp4", fps=10, crf=10)
    assert clip_info(path) == {"codec": "h264", "width": 64, "height": 48, "frames": 20}
    assert count_frames(path) == 20
    sampled = sample_frames(path, 4)
    assert sampled.shape == (4, 48, 64, 3)
    # Frames 0, 6, 13, 19 have grey levels 0, 60, 130, 190 (lossy, so approximately).
    np.testing.assert_allclose(sampled.mean(axis=(1, 2, 3)), [0, 60, 130, 190], atol=4)


@pytest.mark.parametrize("matrix_degrees", [None, -90, 90, 180])
def test_frames_are_upright_as_the_gateway_sends_them(tmp_path: Path, matrix_degrees) -> None:
    """A phone video stored sideways trains on the same upright frames the gateway serves."""
    clip = write_clip(tmp_path / "phone.mp4", width=320, height=240, frames=6,
                      rotation=matrix_degrees)  # fmt: skip
    trained = sample_frames(clip, 1)[0]
    info = probe(clip, VideoLimits(max_duration_s=60, max_frames=1000, max_pixels=10**7))
    served = next(iter(iter_frames(clip, info, [0.0], max_side=10_000))).image
    assert trained.shape == served.shape
    assert trained.shape[:2] == ((320, 240) if matrix_degrees in (-90, 90) else (240, 320))
    assert np.abs(trained.astype(int) - served.astype(int)).mean() < 1.0
