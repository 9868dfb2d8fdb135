"""Face crop cache (resumable) and the training pipeline end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import contract
from model_export.cli import main
from model_export.datasets import discover
from model_export.face_cache import extract_faces, read_shard
from model_export.publish import INFO_RELATIVE_PATH
from model_export.savedmodel import load_version

from .helpers import face_clip, solid_clip


@pytest.mark.slow
def test_face_cache_is_resumable(tmp_path: Path) -> None:
    face_clip(tmp_path / "data/real/a.mp4", frames=3)
    solid_clip(tmp_path / "data/fake/b.mp4", 100, frames=3, size=64)
    videos = discover([tmp_path / "data"])
    shards = extract_faces(videos, tmp_path / "cache", size=48, frames_per_video=3)
    assert all(s.is_file() for s in shards)
    face_crops, blank = (read_shard(s) for s in shards)
    assert face_crops.shape == (3, 48, 48, 3)  # one face per frame
    assert blank.shape == (3, 48, 48, 3)  # no face: the whole frame, resized
    assert abs(float(blank.mean()) - 100) < 5
    stamp = shards[0].stat().st_mtime_ns
    shards[1].unlink()
    again = extract_faces(videos, tmp_path / "cache", size=48, frames_per_video=3)
    assert again == shards and shards[1].is_file()
    assert shards[0].stat().st_mtime_ns == stamp
    assert not list((tmp_path / "cache").glob("*.partial"))


@pytest.mark.slow
def test_train_publishes_face_aware_version(tmp_path: Path) -> None:
    for i in range(4):
        face_clip(tmp_path / f"data/real/v{i}.mp4", frames=3, shift=i)
        solid_clip(tmp_path / f"data/fake/w{i}.mp4", 60 * i + 20, frames=3, size=64)
    output = tmp_path / "models" / "deepfake"
    code = main([
        "train", "--data", str(tmp_path / "data"), "--output", str(output), "--epochs", "2",
        "--input-size", "32", "--frames", "3", "--augment", "--self-blend", "--folds", "2",
        "--cache-dir", str(tmp_path / "cache"), "--val-fraction", "0.25",
        "--test-fraction", "0.25",
    ])  # fmt: skip
    assert code == 0
    info = json.loads((output / "1" / INFO_RELATIVE_PATH).read_text())
    assert info["face_aware"] and info["arch"] == "small_cnn" and info["self_blend"]
    assert len(info["cross_validation_video_auc"]["folds"]) == 2
    assert info["validation"]["video"]["count"] >= 2 and "test" in info
    with load_version(output / "1") as loaded:
        out = loaded.run({contract.FRAMES_INPUT: np.zeros([2, 64, 64, 3], np.uint8)})
        assert loaded.replay_warmup() == 7  # frames 1, 8, 32; crops; model_info; keyframe pair
        assert abs(loaded.threshold() - info["threshold"]) < 1e-6
    assert out[contract.FACE_COUNT].tolist() == [0, 0]
    assert out[contract.FAKE_PROBABILITY].shape == (2,)
