"""H.264 encode/decode with PyAV and uniform frame sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_export.video_io import (
    clip_info,
    count_frames,
    encode_clip,
    sample_frames,
    uniform_indices,
)


def test_uniform_indices() -> None:
    assert uniform_indices(10, 3).tolist() == [0, 4, 9]
    assert uniform_indices(3, 8).tolist() == [0, 1, 2]
    assert uniform_indices(0, 8).tolist() == []


def test_roundtrip(tmp_path: Path) -> None:
    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(20)]
    path = encode_clip(frames, tmp_path / "c.mp4", fps=10, crf=10)
    assert clip_info(path) == {"codec": "h264", "width": 64, "height": 48, "frames": 20}
    assert count_frames(path) == 20
    sampled = sample_frames(path, 4)
    assert sampled.shape == (4, 48, 64, 3)
    # Frames 0, 6, 13, 19 have grey levels 0, 60, 130, 190 (lossy, so approximately).
    np.testing.assert_allclose(sampled.mean(axis=(1, 2, 3)), [0, 60, 130, 190], atol=4)
