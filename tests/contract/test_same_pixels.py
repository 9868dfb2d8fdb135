"""One frame rule: the gateway and training decode the same pixels, so cut the same faces.

A 1080p clip with a face photograph, decoded by the gateway's ``iter_frames`` at its default
cap and by ``model_export.video_io.decode_samples`` (which every training, face-cache,
calibration and evaluation path decodes with); then cut by the training side's cropper.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.pipeline.probe import probe
from gateway.pipeline.video import iter_frames, sample_times_of
from gateway.settings import Settings
from model_export.video_io import decode_samples

from .conftest import LIMITS

COUNT = 8


def _served(clip: Path, min_side: int = 0) -> tuple[np.ndarray, list[float]]:
    info = probe(clip, LIMITS)
    max_side = Settings.model_fields["frame_max_side"].default
    frames = list(
        iter_frames(clip, info, sample_times_of(info, COUNT), max_side=max_side, min_side=min_side)
    )
    return np.stack([f.image for f in frames]), [f.t_s for f in frames]


@pytest.fixture(scope="module")
def both(face_clip_1080p: Path) -> tuple[np.ndarray, np.ndarray]:
    """(the gateway's frames, training's frames) of the clip, their times checked equal."""
    served, served_times = _served(face_clip_1080p)
    trained = decode_samples(face_clip_1080p, COUNT)
    assert trained.times_s == served_times
    assert len(served_times) == COUNT
    return served, trained.frames


def test_the_same_frames_at_the_gateways_size(both: tuple[np.ndarray, np.ndarray]) -> None:
    served, trained = both
    assert served.shape == trained.shape == (COUNT, 360, 640, 3)  # 1080p under the 640 cap
    assert np.array_equal(served, trained)


def test_the_same_frames_at_a_versions_min_side(face_clip_1080p: Path) -> None:
    served, served_times = _served(face_clip_1080p, min_side=224)
    trained = decode_samples(face_clip_1080p, COUNT, min_side=224)
    assert trained.times_s == served_times
    assert served.shape == trained.frames.shape == (COUNT, 224, 400, 3)
    assert np.array_equal(served, trained.frames)


def test_the_same_face_crops(both: tuple[np.ndarray, np.ndarray]) -> None:
    import tensorflow as tf

    from model_export.face_export import FaceConfig, face_crops

    served, trained = both
    crops = [face_crops(tf.constant(frames), 64, FaceConfig()) for frames in (served, trained)]
    (served_crops, served_boxes, _, served_count), (trained_crops, trained_boxes, _, count) = (
        [t.numpy() for t in c] for c in crops
    )
    assert np.all(count >= 1), count  # the photograph's face is found in every frame
    assert np.array_equal(served_count, count)
    assert np.array_equal(served_boxes, trained_boxes)
    assert np.array_equal(served_crops, trained_crops)
