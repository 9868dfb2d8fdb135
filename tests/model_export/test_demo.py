"""Demo data synthesis and the ``demo`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import contract
from model_export.demo_data import (
    FACE_BOXES,
    LABEL_FAKE,
    LABEL_REAL,
    DemoConfig,
    build_demo_dataset,
)
from model_export.publish import INFO_RELATIVE_PATH
from model_export.savedmodel import load_version
from model_export.video_io import sample_frames
from tests.tiny_model import export_tiny_model
from tests.videos import clip_info

REPO = Path(__file__).resolve().parents[2]
TINY = DemoConfig(clips_per_source=2, frames_per_clip=6, size=96, seed=3)


def _run_demo(*args: str, env: dict[str, str] | None = None, timeout: float = 300):
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "model_export", "demo", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_demo_clips_are_labelled_h264(tmp_path: Path) -> None:
    clips = build_demo_dataset(tmp_path, TINY)
    assert len(clips) == 2 * len(FACE_BOXES) * TINY.clips_per_source
    assert sorted({c.label for c in clips}) == [LABEL_REAL, LABEL_FAKE]
    groups: dict[str, dict[int, Path]] = {}
    for clip in clips:
        info = clip_info(clip.path)
        assert info == {"codec": "h264", "width": 96, "height": 96, "frames": 6}
        groups.setdefault(clip.group, {})[clip.label] = clip.path
    # Each group holds one REAL clip and its FAKE twin: same camera, different face.
    for pair in groups.values():
        assert set(pair) == {LABEL_REAL, LABEL_FAKE}
        real = sample_frames(pair[LABEL_REAL], 3).astype(np.float32)
        fake = sample_frames(pair[LABEL_FAKE], 3).astype(np.float32)
        diff = np.abs(real - fake).mean(axis=(0, 3))
        # The manipulation sits near the middle (the face), not in the corners.
        h = diff.shape[0]
        centre = diff[h // 4 : 3 * h // 4, h // 4 : 3 * h // 4].mean()
        corners = np.mean(
            [diff[:8, :8].mean(), diff[:8, -8:].mean(), diff[-8:, :8].mean(), diff[-8:, -8:].mean()]
        )
        assert centre > 2.0
        assert centre > 3 * corners


def test_demo_data_is_cached(tmp_path: Path) -> None:
    first = build_demo_dataset(tmp_path, TINY)
    stamps = {c.path: c.path.stat().st_mtime_ns for c in first}
    second = build_demo_dataset(tmp_path, TINY)
    assert [(c.path, c.label, c.group) for c in second] == [
        (c.path, c.label, c.group) for c in first
    ]
    assert {c.path: c.path.stat().st_mtime_ns for c in second} == stamps


def test_if_missing_is_a_noop_when_a_version_exists(tmp_path: Path) -> None:
    export_tiny_model(tmp_path, "deepfake", version=3)
    before = sorted(p.name for p in (tmp_path / "deepfake").iterdir())
    result = _run_demo("--if-missing", env={"MODEL_BASE_PATH": str(tmp_path)}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "deepfake").iterdir()) == before == ["3"]
    assert not (tmp_path / "var").exists()


@pytest.mark.slow
def test_demo_trains_and_publishes(tmp_path: Path) -> None:
    result = _run_demo(
        "--model-base-path",
        str(tmp_path / "models"),
        "--model-name",
        "demo",
        "--data-dir",
        str(tmp_path / "data"),
        "--clips-per-source",
        "4",
        "--epochs",
        "2",
        "--if-missing",
    )
    assert result.returncode == 0, result.stderr
    assert "DEMO model" in result.stdout
    assert "validation videos: accuracy" in result.stdout
    version = tmp_path / "models" / "demo" / "1"
    with load_version(version) as loaded:
        assert loaded.replay_warmup() == 4
        threshold = loaded.threshold()
        described = loaded.run(
            {contract.FRAMES_INPUT: np.zeros([1, 1, 1, 3], np.uint8)}, contract.MODEL_INFO_SIGNATURE
        )
    # The whole-frame demo model needs frames no larger than its input side.
    info = json.loads((version / INFO_RELATIVE_PATH).read_text())
    assert described[contract.FRAME_MIN_SIDE].tolist() == [max(info["input_size"])]
    assert described[contract.THRESHOLD][0] == pytest.approx(threshold)
    assert 0.0 <= threshold <= 1.0
    assert sorted(p.name for p in (tmp_path / "models" / "demo").iterdir()) == ["1"]
