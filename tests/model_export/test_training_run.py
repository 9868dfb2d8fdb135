"""A training run's images: the face mesh of the REAL videos' cached crops, kept in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_export.datasets import LabelledVideo
from model_export.faces import face_mesh
from model_export.training_run import _meshed


class _StubMesh:
    def __init__(self) -> None:
        self.calls = 0

    def points(self, crops: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.full([len(crops), face_mesh.POINTS, 2], 0.5, np.float32)


def test_mesh_is_computed_once_for_real_videos_only(monkeypatch: pytest.MonkeyPatch) -> None:
    stub = _StubMesh()
    monkeypatch.setattr(face_mesh, "load_face_mesh", lambda: stub)
    crops = [np.zeros([2, 8, 8, 3], np.uint8), np.zeros([3, 8, 8, 3], np.uint8)]
    five = [np.full([2, 5, 2], 0.4, np.float32), np.full([3, 5, 2], 0.4, np.float32)]
    videos = [
        LabelledVideo(Path("real.mp4"), 0, "a", "flat"),
        LabelledVideo(Path("fake.mp4"), 1, "a", "flat"),
    ]
    real, fake = _meshed(crops, five, videos)
    assert real.shape == (2, 473, 2) and fake.shape == (3, 473, 2)
    assert np.all(real[:, 5:] == 0.5) and np.all(np.isnan(fake[:, 5:]))
    assert np.all(real[:, :5] == 0.4) and stub.calls == 1
