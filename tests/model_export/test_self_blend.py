"""Self-blended images: masks from landmarks, pseudo-fakes, the on-the-fly tf.data generator."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from model_export import self_blend as self_blend_module
from model_export.self_blend import (
    TEMPLATE_LANDMARKS,
    SelfBlended,
    face_hull,
    hull_mask,
    paired_augment,
    self_blend,
    self_blend_dataset,
    self_blended_set,
)
from model_export.train import FrameSet, TrainConfig

SIZE = 96


def _face(seed: int = 0, size: int = SIZE) -> np.ndarray:
    """A textured 'face': noise over gradients, so every change shows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 255 // size, y * 255 // size, (x + y) * 127 // size], axis=-1)
    return np.clip(base + rng.integers(-30, 31, base.shape), 0, 255).astype(np.uint8)


def test_mask_is_deterministic_for_a_seed_and_varies_across_seeds() -> None:
    masks = [
        self_blend(_face(), TEMPLATE_LANDMARKS, np.random.default_rng(s)).mask for s in (1, 1, 2, 3)
    ]
    assert np.array_equal(masks[0], masks[1])
    assert not np.array_equal(masks[0], masks[2]) and not np.array_equal(masks[2], masks[3])
    hulls = [
        hull_mask(TEMPLATE_LANDMARKS, (SIZE, SIZE), np.random.default_rng(s)) for s in (5, 5, 6)
    ]
    assert np.array_equal(hulls[0], hulls[1]) and not np.array_equal(hulls[0], hulls[2])


def test_hull_covers_the_face_around_the_five_points() -> None:
    points = TEMPLATE_LANDMARKS * (SIZE - 1)
    five_point_area = cv2.contourArea(cv2.convexHull(np.round(points).astype(np.int32)))
    for seed in range(8):
        hull = face_hull(TEMPLATE_LANDMARKS, (SIZE, SIZE), np.random.default_rng(seed))
        # Every landmark inside, and far more than the landmarks' own hull.
        assert all(cv2.pointPolygonTest(hull, (float(x), float(y)), False) >= 0 for x, y in points)
        assert cv2.contourArea(hull) > 2.2 * five_point_area
    # The mask follows the landmarks: a face moved right gives a mask moved right.
    shifted = TEMPLATE_LANDMARKS + np.array([0.15, 0.0], np.float32)
    a = hull_mask(TEMPLATE_LANDMARKS, (SIZE, SIZE), np.random.default_rng(0))
    b = hull_mask(shifted, (SIZE, SIZE), np.random.default_rng(0))
    centre = [np.mean(np.nonzero(m)[1]) for m in (a, b)]
    assert centre[1] - centre[0] == pytest.approx(0.15 * (SIZE - 1), abs=2)


@pytest.mark.parametrize("seed", range(6))
def test_fake_differs_from_the_source_only_inside_the_mask(seed: int) -> None:
    face = _face(seed)
    pair = self_blend(face, TEMPLATE_LANDMARKS, np.random.default_rng(seed),
                      target_transform_probability=0.0)  # fmt: skip
    assert pair.fake.dtype == np.uint8 and pair.fake.shape == face.shape
    assert pair.mask.dtype == np.float32 and pair.mask.shape == face.shape[:2]
    outside = pair.mask == 0
    assert np.array_equal(pair.real, face)  # the target kept as it was
    assert np.array_equal(pair.fake[outside], face[outside])
    assert np.any(pair.fake[~outside] != face[~outside])
    # The mask's support stays within the face hull, dilated by the deformations and blur.
    widest = np.zeros((SIZE, SIZE), np.uint8)
    for s in range(20):
        widest |= hull_mask(TEMPLATE_LANDMARKS, (SIZE, SIZE), np.random.default_rng(s)).astype(
            np.uint8
        )
    dilated = cv2.dilate(widest, np.ones((SIZE // 6, SIZE // 6), np.uint8))
    assert not np.any((pair.mask > 0) & (dilated == 0))
    assert 0.05 < float(np.mean(pair.mask > 0)) < 0.8


def test_transformed_target_is_the_paired_real() -> None:
    face = _face(3)
    pair = self_blend(face, TEMPLATE_LANDMARKS, np.random.default_rng(4),
                      target_transform_probability=1.0)  # fmt: skip
    outside = pair.mask == 0
    assert not np.array_equal(pair.real, face)  # colour or sharpness changed
    assert np.array_equal(pair.fake[outside], pair.real[outside])


def test_missing_landmarks_use_the_template() -> None:
    face = _face(1)
    nan = np.full([5, 2], np.nan, np.float32)
    a = self_blend(face, nan, np.random.default_rng(9))
    b = self_blend(face, TEMPLATE_LANDMARKS, np.random.default_rng(9))
    assert np.array_equal(a.fake, b.fake)


def _meshed(mesh: np.ndarray) -> np.ndarray:
    return np.concatenate([TEMPLATE_LANDMARKS, mesh]).astype(np.float32)


def test_mask_is_the_convex_hull_of_the_mesh() -> None:
    # A mesh of 468 points on a circle (and inside it) off the template's centre.
    angles = np.linspace(0, 2 * np.pi, 468, endpoint=False)
    radius = np.where(np.arange(468) % 2 == 0, 0.3, 0.1)
    circle = np.stack([0.45 + radius * np.cos(angles), 0.55 + radius * np.sin(angles)], axis=1)
    marks = _meshed(circle)
    for seed in range(3):
        mask = hull_mask(marks, (SIZE, SIZE), np.random.default_rng(seed))
        # Boundary pixels count too: a little over the disc.
        assert float(mask.sum()) == pytest.approx(np.pi * (0.3 * (SIZE - 1)) ** 2, rel=0.1)
        ys, xs = np.nonzero(mask)
        assert xs.mean() == pytest.approx(0.45 * (SIZE - 1), abs=1)
        assert ys.mean() == pytest.approx(0.55 * (SIZE - 1), abs=1)
    hull = face_hull(marks, (SIZE, SIZE), np.random.default_rng(0))
    assert len(hull) > 32  # the mesh's outline, not the 32-point ellipse


def test_a_missing_mesh_falls_back_to_the_five_point_ellipse() -> None:
    nan_mesh = _meshed(np.full([468, 2], np.nan))
    for seed in range(3):
        a = hull_mask(nan_mesh, (SIZE, SIZE), np.random.default_rng(seed))
        b = hull_mask(TEMPLATE_LANDMARKS, (SIZE, SIZE), np.random.default_rng(seed))
        assert np.array_equal(a, b)


def test_paired_augment_gives_both_images_one_transform() -> None:
    import tensorflow as tf

    face = _face(2, 48)
    pair = tf.constant(np.stack([face, face]))
    outs = [paired_augment(pair, tf.constant([s, 7], tf.int64), True).numpy() for s in range(6)]
    assert all(np.array_equal(o[0], o[1]) for o in outs)
    assert any(not np.array_equal(outs[0][0], o[0]) for o in outs[1:])  # seeds differ
    flips = [paired_augment(pair, tf.constant([s, 1], tf.int64), False).numpy() for s in range(8)]
    assert all(np.array_equal(o[0], o[1]) for o in flips)
    assert {bool(np.array_equal(o[0], face[:, ::-1])) for o in flips} == {True, False}


def test_dataset_augments_a_real_and_its_fake_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    # With a "blend" that changes nothing, paired augmentation leaves each pair identical.
    def unchanged(face, landmarks, rng):  # type: ignore[no-untyped-def]
        return SelfBlended(face, face.copy(), np.zeros(face.shape[:2], np.float32))

    monkeypatch.setattr(self_blend_module, "self_blend", unchanged)
    frames = _frames(4, 0)
    config = TrainConfig(input_size=(32, 32), batch_size=8, seed=0, augment=True)
    data, _ = self_blend_dataset(frames, frames.landmarks, config)
    x = np.concatenate([b[0] for b in data.as_numpy_iterator()])
    assert len(x) == 8 and np.array_equal(x[0::2], x[1::2])
    assert not np.array_equal(x[0::2], np.stack([_face(i, 32) for i in range(4)]) / 255.0)


def test_dataset_draws_every_face_several_times_per_epoch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn: list[tuple[int, int]] = []
    real_blend = self_blend_module.self_blend

    def recording(face, landmarks, rng):  # type: ignore[no-untyped-def]
        pair = real_blend(face, landmarks, rng)
        drawn.append((int(face.astype(np.int64).sum()), int(pair.fake.astype(np.int64).sum())))
        return pair

    monkeypatch.setattr(self_blend_module, "self_blend", recording)
    frames = _frames(3, 1)
    config = TrainConfig(input_size=(32, 32), batch_size=4, seed=0)
    data, steps = self_blend_dataset(frames, frames.landmarks, config, draws=3)
    y = np.concatenate([b[1] for b in data.as_numpy_iterator()])
    assert steps == 5 and y.tolist() == [0, 1] * 9
    faces: dict[int, set[int]] = {}
    for face, fake in drawn:
        faces.setdefault(face, set()).add(fake)
    assert len(faces) == 3 and all(len(f) == 3 for f in faces.values())  # 3 new blends each
    with pytest.raises(ValueError):
        self_blend_dataset(frames, frames.landmarks, config, draws=0)


def _frames(reals: int, fakes: int) -> FrameSet:
    images = np.stack([_face(i, 48) for i in range(reals + fakes)])
    labels = np.array([0] * reals + [1] * fakes, np.float32)
    ids = np.arange(reals + fakes)
    landmarks = np.repeat(TEMPLATE_LANDMARKS[None], reals + fakes, axis=0)
    return FrameSet(
        images,
        labels,
        ids,
        {int(i): int(lab) for i, lab in zip(ids, labels, strict=True)},
        landmarks,
    )


def test_dataset_makes_new_pairs_every_epoch() -> None:
    frames = _frames(3, 2)
    config = TrainConfig(input_size=(32, 32), batch_size=4, seed=0)
    data, steps = self_blend_dataset(frames, frames.landmarks, config)
    epochs = [list(data.as_numpy_iterator()) for _ in range(2)]
    assert steps == 2
    for batches in epochs:
        x = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
        assert x.dtype == np.float32 and x.shape == (6, 32, 32, 3)
        assert x.min() >= 0.0 and x.max() <= 1.0 + 1e-5  # preprocess_frames resizes
        assert y.tolist() == [0, 1] * 3  # each real next to its pseudo-fake; no labelled fakes
    first, second = (np.concatenate([b[0] for b in e]) for e in epochs)
    assert not np.allclose(first, second)


def test_dataset_mixes_labelled_fakes_on_request() -> None:
    frames = _frames(2, 3)
    config = TrainConfig(input_size=(32, 32), batch_size=16, seed=0)
    data, steps = self_blend_dataset(frames, frames.landmarks, config, mix_fakes=True)
    (_, y), *_ = list(data.as_numpy_iterator())
    assert steps == 1 and len(y) == 7 and int(y.sum()) == 5


def test_fixed_validation_set_adds_one_fake_clip_per_real_clip() -> None:
    frames = _frames(3, 1)
    out = self_blended_set(frames, frames.landmarks, seed=1)
    assert len(out.frames) == 7 and out.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert {out.clip_labels[int(i)] for i in out.clip_ids[4:]} == {1}
    again = self_blended_set(frames, frames.landmarks, seed=1)
    assert np.array_equal(out.frames, again.frames)


@pytest.mark.slow
def test_cache_stores_landmarks_on_the_face(tmp_path: Path) -> None:
    from model_export.datasets import discover
    from model_export.face_cache import extract_faces, has_landmarks, read_landmarks, read_shard

    from .helpers import face_clip, solid_clip

    face_clip(tmp_path / "data/real/a.mp4", frames=2)
    solid_clip(tmp_path / "data/fake/b.mp4", 90, frames=2, size=64)
    videos = discover([tmp_path / "data"])
    shards = extract_faces(videos, tmp_path / "cache", size=64, frames_per_video=2, landmarks=True)
    assert all(has_landmarks(s) for s in shards)
    face, blank = (read_landmarks(s) for s in shards)
    assert face.shape == (2, 5, 2) and read_shard(shards[0]).shape[0] == 2
    assert np.all(np.isnan(blank))  # whole frames have none
    left_eye, right_eye, nose, mouth_left, mouth_right = face[0]
    assert np.all((face > 0.1) & (face < 0.9))
    assert left_eye[0] < nose[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
