"""Clips with known keyframes for the contract's frame rules (encoded once per module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.pipeline.probe import VideoLimits
from tests.videos import write_clip

#: Generous limits: the clips here are probed, never refused.
LIMITS = VideoLimits(max_duration_s=3600, max_frames=10**6, max_pixels=3840 * 2160)
#: ``gop_clip``: 20 s at 10 fps, a keyframe every 2 s exactly.
GOP_FPS, GOP_FRAMES, GOP_S = 10, 200, 2.0
#: ``long_gop_clip``: a 10-minute clip (605 s, so that a keyframe lies near its last frame)
#: at 5 fps, a keyframe every 10 s exactly: 32 samples are 19.5 s apart, as on a 10-minute
#: upload, so every sample has a keyframe within half a spacing.
LONG_FPS, LONG_FRAMES, LONG_GOP_S = 5, 3025, 10.0


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s, 10 fps, 96x64, keyframes at 0, 2, ..., 18 s."""
    path = tmp_path_factory.mktemp("gop") / "gop.mp4"
    gop = int(GOP_S * GOP_FPS)
    return write_clip(
        path, width=96, height=64, frames=GOP_FRAMES, fps=GOP_FPS, gop=gop, fixed_gop=True
    )


@pytest.fixture(scope="module")
def long_gop_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """605 s, 5 fps, 96x64, keyframes at 0, 10, ..., 600 s."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    gop = int(LONG_GOP_S * LONG_FPS)
    return write_clip(
        path, width=96, height=64, frames=LONG_FRAMES, fps=LONG_FPS, gop=gop, fixed_gop=True
    )


@pytest.fixture(scope="module")
def face_clip_1080p(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s of 1080p at 24 fps with a face photograph, a keyframe every 8 frames."""
    path = tmp_path_factory.mktemp("hd") / "face1080.mp4"
    return write_clip(path, width=1920, height=1080, frames=24, fps=24, faces=1, gop=8)
