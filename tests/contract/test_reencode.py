"""The re-encoded copies of :mod:`contract.reencode` under a deadline."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from contract.reencode import TRANSFORMS, transcode
from tests.videos import write_clip


def test_a_passed_deadline_stops_the_copies_between_frames(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", width=64, height=48, frames=10)
    with pytest.raises(TimeoutError, match="deadline"):
        transcode(clip, tmp_path / "out", TRANSFORMS, deadline=time.monotonic() - 1)


def test_within_its_deadline_every_copy_is_written(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", width=64, height=48, frames=10)
    paths = transcode(clip, tmp_path / "out", TRANSFORMS, deadline=time.monotonic() + 60)
    assert sorted(paths) == sorted(t.name for t in TRANSFORMS)
    assert all(p.stat().st_size > 0 for p in paths.values())
