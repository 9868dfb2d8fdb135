"""Self-blended images (Shiohara & Yamasaki, CVPR 2022), generated on the fly in ``tf.data``.

A pseudo-fake is a real face blended with a slightly altered copy of itself inside a face
mask, so a detector learns the traces every face swap leaves (blending boundaries, colour
and sharpness mismatches, small misalignment) without any fake in the training set:

1. a face-region mask from the face's landmarks (:func:`face_hull`);
2. a source and a target copy of the face; one of them (chosen at random) gets independent
   colour (RGB shift, hue/saturation/value, brightness/contrast) and sharpness (down-scaling,
   blur or sharpening) changes (:func:`source_transform`);
3. the source and the mask shift and scale together (random affine), then the mask alone is
   deformed elastically (:func:`random_affine`, :func:`elastic_deform`);
4. the mask is resized, blurred, cut back to its core (an erosion), randomly eroded or
   dilated again and blurred into soft edges (:func:`blend_mask`), then scaled by a blend
   ratio from :data:`BLEND_RATIOS`;
5. ``fake = mask * source + (1 - mask) * target``; the target itself is the paired real;
6. the pair gets one and the same training augmentation (:func:`paired_augment`), as in the
   paper, so that only the blend tells them apart.

**Landmarks.** The paper hulls 68/81 dlib points. Here a face's landmarks are its five O-Net
points (:mod:`model_export.faces.landmarks`) followed, when MediaPipe's face mesh is available
(:mod:`model_export.faces.face_mesh`), by its 468 mesh points, ``[473, 2]``; the mask is the
convex hull of the mesh, which follows the jaw line and reaches the forehead. Without a mesh
(the model file missing, or no face found on the crop) :func:`face_hull` fits an ellipse
around the five points in the face's own frame (eye line and eye-to-mouth axis) that reaches
the eyebrows, the cheeks and the chin, in one of three randomly chosen extents.

**Implementation.** The per-image generation is numpy/OpenCV inside ``tf.numpy_function``
(polygon rasterisation, blur, morphology, warps and remapping are single OpenCV calls, as in
the paper's albumentations pipeline; OpenCV releases the GIL, so ``tf.data``'s parallel map
uses every core); it runs only while training and never enters an exported graph. Every draw
gets its own seed from ``tf.data.Dataset.random`` (re-drawn each epoch), so each epoch sees
new pseudo-fakes while a seed alone reproduces one exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
import tensorflow as tf

from model_export.augment import augment_image
from model_export.preprocess import preprocess_frames
from model_export.train import FrameSet, TrainConfig

log = logging.getLogger(__name__)

#: Blend ratios of the paper: a full-strength blend half of the time.
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)

#: Where the five points (x, y in [0, 1]) sit in a face crop with the default 0.3 margin (the
#: ArcFace template), for crops without landmarks (no face detected, whole-frame training).
TEMPLATE_LANDMARKS = np.array(
    [[0.401, 0.476], [0.597, 0.476], [0.500, 0.588], [0.419, 0.703], [0.582, 0.703]],
    np.float32,
)

#: Mask extents ``(top, bottom, half width)``: top and bottom along the eye-to-mouth axis in
#: units of the eye-to-mouth distance from the eye line, half width in inter-ocular distances.
#: They reach past the face's outline because :func:`blend_mask` erodes the mask first.
HULL_EXTENTS = {
    "face": (-0.7, 2.0, 1.1),  # eyebrows to chin, cheek to cheek
    "extended": (-1.1, 2.0, 1.15),  # up to the forehead
    "inner": (-0.5, 1.55, 0.9),  # eyes, nose and mouth
}
_HULL_CHOICES = ("face", "face", "extended", "inner")


@dataclass(frozen=True)
class SelfBlended:
    """One generated pair: the real (the blend's target) and the pseudo-fake."""

    real: np.ndarray
    fake: np.ndarray
    #: Blend weights ``float32 [H, W]`` in ``[0, 1]``: 0 where the fake equals the real.
    mask: np.ndarray


def landmarks_or_template(landmarks: np.ndarray | None) -> np.ndarray:
    """The five points (the first five of ``landmarks`` ``[5 or 473, 2]``) in crop
    coordinates, or the template where they are missing."""
    if landmarks is None:
        return TEMPLATE_LANDMARKS.copy()
    points = np.asarray(landmarks, np.float32).reshape(-1, 2)[:5]
    if not np.all(np.isfinite(points)):
        return TEMPLATE_LANDMARKS.copy()
    return points


def mesh_points(landmarks: np.ndarray | None) -> np.ndarray | None:
    """The mesh part ``[468, 2]`` of a face's landmarks, or None (five points only, or NaN)."""
    if landmarks is None:
        return None
    points = np.asarray(landmarks, np.float32).reshape(-1, 2)
    if len(points) <= 5 or not np.all(np.isfinite(points[5:])):
        return None
    return points[5:]


def face_hull(
    landmarks: np.ndarray, shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """A face-region polygon ``int32 [K, 2]`` (pixel x, y): the convex hull of the face mesh.

    ``landmarks`` are ``(x, y)`` in ``[0, 1]`` of an image of ``shape`` (height, width): five
    points, or five followed by the 468 of the mesh. Without a (finite) mesh, an ellipse
    around the five points, its extent drawn from :data:`HULL_EXTENTS` and jittered by up to
    10% per side.
    """
    height, width = shape
    mesh = mesh_points(landmarks)
    if mesh is not None:
        pixels = np.round(mesh * np.array([width - 1, height - 1], np.float32))
        return cv2.convexHull(pixels.astype(np.int32)).reshape(-1, 2)
    points = landmarks_or_template(landmarks) * np.array([width - 1, height - 1], np.float32)
    left_eye, right_eye, nose, mouth_left, mouth_right = points
    eye_mid = (left_eye + right_eye) / 2
    across = right_eye - left_eye
    down = (mouth_left + mouth_right) / 2 - eye_mid
    eyes, eye_to_mouth = float(np.hypot(*across)), float(np.hypot(*down))
    if eyes < 1.0 or eye_to_mouth < 1.0:
        # Degenerate points (a failed prediction): the template keeps the mask sensible.
        return face_hull(TEMPLATE_LANDMARKS, shape, rng)
    ux = across / eyes
    uy = np.array([-ux[1], ux[0]], np.float32)
    if float(uy @ down) < 0:
        uy = -uy
    top, bottom, half = HULL_EXTENTS[str(rng.choice(_HULL_CHOICES))]
    top, bottom, half = (v * rng.uniform(0.9, 1.1) for v in (top, bottom, half))
    # A turned head moves the nose off the eyes' midpoint; the face's centre follows it.
    centre = eye_mid + ux * 0.5 * float((nose - eye_mid) @ ux)
    centre = centre + uy * eye_to_mouth * (top + bottom) / 2
    angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    ellipse = (
        centre[None, :]
        + np.cos(angles)[:, None] * ux[None, :] * half * eyes
        + np.sin(angles)[:, None] * uy[None, :] * eye_to_mouth * (bottom - top) / 2
    )
    polygon = np.concatenate([ellipse, points]).astype(np.float32)
    return cv2.convexHull(np.round(polygon).astype(np.int32)).reshape(-1, 2)


def hull_mask(
    landmarks: np.ndarray, shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """Binary ``float32 [H, W]`` mask of :func:`face_hull`."""
    mask = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(mask, face_hull(landmarks, shape, rng), 1.0)
    return mask


def _odd(value: float) -> int:
    return max(1, round(value) // 2 * 2 + 1)


def _scale(shape: tuple[int, ...]) -> float:
    # The paper's kernel sizes and shifts are for 256-pixel crops; smaller crops scale them.
    return min(shape[:2]) / 256.0


def source_transform(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour and sharpness changes of one copy of the face (uint8 in, uint8 out)."""
    x = image.astype(np.float32)
    if rng.random() < 0.3:
        x = x + rng.uniform(-20, 20, size=3).astype(np.float32)
    hsv = cv2.cvtColor(np.clip(x, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = np.mod(hsv[..., 0] + rng.uniform(-4, 4), 180)  # OpenCV hue is 0..180
    hsv[..., 1] *= rng.uniform(0.8, 1.2)
    hsv[..., 2] *= rng.uniform(0.9, 1.1)
    hsv = np.clip(hsv, 0, [179, 255, 255]).astype(np.uint8)
    x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)
    contrast, brightness = 1 + rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1) * 255
    x = (x - x.mean()) * contrast + x.mean() + brightness
    height, width = image.shape[:2]
    kind = rng.integers(3)
    if kind == 0:  # down-scale and back: lost detail, as a low-resolution swap
        factor = rng.uniform(2.0, 4.0)
        small = (max(1, int(width / factor)), max(1, int(height / factor)))
        x = cv2.resize(cv2.resize(x, small, interpolation=cv2.INTER_LINEAR), (width, height),
                       interpolation=cv2.INTER_LINEAR)  # fmt: skip
    elif kind == 1:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.5) * max(_scale(image.shape), 0.25))
    else:  # sharpen: mix the image with a Laplacian-sharpened copy
        alpha, lightness = rng.uniform(0.2, 0.5), rng.uniform(0.5, 1.0)
        kernel = -np.ones((3, 3), np.float32)
        kernel[1, 1] = 8 + lightness
        identity = np.zeros((3, 3), np.float32)
        identity[1, 1] = 1
        x = cv2.filter2D(x, -1, (1 - alpha) * identity + alpha * kernel)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def random_affine(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Shift (3% across, 1.5% down) and scale (0.95..1.05) the source and its mask together."""
    height, width = image.shape[:2]
    scale = rng.uniform(0.95, 1 / 0.95)
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), 0.0, scale)
    matrix[0, 2] += rng.uniform(-0.03, 0.03) * width
    matrix[1, 2] += rng.uniform(-0.015, 0.015) * height
    moved = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    moved_mask = cv2.warpAffine(mask, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)  # fmt: skip
    return moved, moved_mask


def elastic_deform(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Elastic deformation of the mask: a smoothed random displacement field."""
    height, width = mask.shape
    s = _scale(mask.shape)
    sigma, alpha = max(7 * s, 1.0), 50 * s * s * 4
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (height, width)).astype(np.float32), (0, 0), sigma)
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (height, width)).astype(np.float32), (0, 0), sigma)
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32),
                                 np.arange(height, dtype=np.float32))  # fmt: skip
    return cv2.remap(mask, grid_x + dx * alpha, grid_y + dy * alpha, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)  # fmt: skip


def blend_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Soft blend weights from a binary mask: eroded or dilated, with blurred edges.

    As in the paper: resize to a random 75-100% (uneven edges once resized back), blur and
    keep only what stays fully inside (an erosion), optionally erode or dilate once more,
    blur again with a random kernel, normalise to a peak of 1.
    """
    height, width = mask.shape
    s = _scale(mask.shape)
    size = (
        max(8, int(width * rng.uniform(0.75, 1.0))),
        max(8, int(height * rng.uniform(0.75, 1.0))),
    )
    m = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    k1 = _odd(rng.integers(5, 26) * s)
    m = cv2.GaussianBlur(m, (k1, k1), 0)
    peak = float(m.max())
    if peak <= 0:
        return np.zeros_like(mask, np.float32)
    m = np.where(m / peak >= 1.0 - 1e-6, 1.0, 0.0).astype(np.float32)
    op = rng.integers(3)
    if op < 2:
        k = _odd(rng.integers(3, 12) * s)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        changed = (cv2.erode if op == 0 else cv2.dilate)(m, kernel)
        # A small mask may erode away entirely; it keeps its core then.
        m = changed if changed.max() > 0 else m
    k2 = _odd(rng.integers(5, 26) * s)
    m = cv2.GaussianBlur(m, (k2, k2), rng.uniform(5, 46) * s)
    m = m / max(float(m.max()), 1e-6)
    m = cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR)
    # Resizing rings a little below zero; exact zeros keep the outside untouched.
    return np.clip(np.where(m < 1e-3, 0.0, m), 0.0, 1.0).astype(np.float32)


def self_blend(
    face: np.ndarray,
    landmarks: np.ndarray | None,
    rng: np.random.Generator,
    *,
    target_transform_probability: float = 0.5,
) -> SelfBlended:
    """A self-blended pair from one uint8 face crop ``[H, W, 3]`` and its five landmarks.

    With probability ``target_transform_probability`` the target (the paired real, outside
    the mask) gets the colour and sharpness changes instead of the source, so that neither
    the colour nor the sharpness of a face tells the pair apart. Outside the mask's support
    the fake equals the real exactly.
    """
    face = np.ascontiguousarray(face, np.uint8)
    mask = hull_mask(landmarks_or_template(landmarks), face.shape[:2], rng)
    source, target = face.copy(), face.copy()
    if rng.random() < target_transform_probability:
        target = source_transform(target, rng)
    else:
        source = source_transform(source, rng)
    source, mask = random_affine(source, mask, rng)
    mask = blend_mask(elastic_deform(mask, rng), rng)
    mask = mask * float(rng.choice(BLEND_RATIOS))
    m = mask[..., None]
    fake = m * source.astype(np.float32) + (1 - m) * target.astype(np.float32)
    fake = np.clip(np.round(fake), 0, 255).astype(np.uint8)
    return SelfBlended(real=target, fake=fake, mask=mask.astype(np.float32))


def paired_augment(pair: tf.Tensor, seed: tf.Tensor, augment: bool) -> tf.Tensor:
    """One random transform (:func:`~model_export.augment.augment_image` with ``augment``,
    else a mirror) for both images of a pair ``uint8 [2, H, W, 3]``; ``seed`` ``int64 [2]``."""
    if augment:
        return tf.stack([augment_image(pair[0], seed), augment_image(pair[1], seed)])
    flip = tf.random.stateless_uniform([], seed) < 0.5
    return tf.cond(flip, lambda: tf.reverse(pair, axis=[2]), lambda: pair)


def self_blended_set(frames: FrameSet, landmarks: np.ndarray | None, seed: int) -> FrameSet:
    """A fixed set for validation: the real faces of ``frames`` plus one pseudo-fake each.

    Labelled fakes stay; pseudo-fakes form clips of their own, numbered after the real ones.
    """
    marks = _landmarks_for(frames, landmarks)
    real = np.flatnonzero(frames.labels == 0)
    if len(real) == 0:
        return frames
    fakes = np.stack(
        [
            self_blend(frames.frames[i], marks[i], np.random.default_rng([seed, i])).fake
            for i in real
        ]
    )
    ids = np.concatenate([frames.clip_ids, frames.clip_ids[real] + 10**6])
    clip_labels = dict(frames.clip_labels) | {
        int(i) + 10**6: 1 for i in np.unique(frames.clip_ids[real])
    }
    return FrameSet(
        np.concatenate([frames.frames, fakes]),
        np.concatenate([frames.labels, np.ones(len(fakes), frames.labels.dtype)]),
        ids,
        clip_labels,
        np.concatenate([marks, marks[real]]),
    )


def _landmarks_for(frames: FrameSet, landmarks: np.ndarray | None) -> np.ndarray:
    if landmarks is None:
        return np.full([len(frames.frames), 5, 2], np.nan, np.float32)
    if len(landmarks) != len(frames.frames):
        raise ValueError("one landmark set per image is needed")
    return np.asarray(landmarks, np.float32)


def self_blend_dataset(
    frames: FrameSet,
    landmarks: np.ndarray | None,
    config: TrainConfig,
    *,
    mix_fakes: bool = False,
    draws: int = 1,
) -> tuple[tf.data.Dataset, int]:
    """Training batches of self-blended pairs, and steps per epoch.

    Every real face is drawn ``draws`` times per epoch (shuffled), each draw a new blend, and
    yields its real and its pseudo-fake next to each other in a batch, with one augmentation
    (:func:`paired_augment`). ``mix_fakes`` samples the labelled fakes in too, in proportion
    to their number. Batches are like :func:`model_export.train.frame_dataset`'s.
    """
    if draws < 1:
        raise ValueError("draws must be at least 1")
    marks = _landmarks_for(frames, landmarks)
    real = np.flatnonzero(frames.labels == 0)
    if len(real) == 0:
        raise ValueError("self-blended training needs real faces")
    height, width = frames.frames.shape[1:3]
    faces, face_marks = frames.frames[real], marks[real]

    def pair_of(index: np.int64, seed: np.int64) -> np.ndarray:
        rng = np.random.default_rng(int(seed) & 0xFFFFFFFFFFFF)
        pair = self_blend(faces[int(index)], face_marks[int(index)], rng)
        return np.stack([pair.real, pair.fake])

    # Indices, not images, go through the shuffle: its buffer stays small for many draws.
    order = tf.data.Dataset.range(len(real)).repeat(draws)
    order = order.shuffle(len(real) * draws, seed=config.seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True)
    augment_seeds = tf.data.Dataset.random(seed=config.seed + 2, rerandomize_each_iteration=True)

    def generate(index: tf.Tensor, seed: tf.Tensor, augment_seed: tf.Tensor):
        out = tf.numpy_function(pair_of, [index, seed], tf.uint8, stateful=False)
        out = tf.ensure_shape(out, [2, height, width, 3])
        return paired_augment(out, augment_seed, config.augment), tf.constant([0.0, 1.0])

    # Parallel map of whole pairs, then one element per image.
    data = tf.data.Dataset.zip(order, seeds, augment_seeds.batch(2)).map(
        generate, num_parallel_calls=tf.data.AUTOTUNE
    )
    data = data.unbatch()
    count = 2 * len(real) * draws
    fake = frames.labels == 1
    if mix_fakes and fake.any():
        fakes = tf.data.Dataset.from_tensor_slices(
            (frames.frames[fake], frames.labels[fake].astype(np.float32))
        ).shuffle(int(fake.sum()), seed=config.seed + 1, reshuffle_each_iteration=True)
        fake_seeds = tf.data.Dataset.random(seed=config.seed + 3, rerandomize_each_iteration=True)
        fakes = tf.data.Dataset.zip(fakes, fake_seeds.batch(2)).map(
            lambda xy, s: (paired_augment(xy[0][None], s, config.augment)[0], xy[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        share = count / (count + int(fake.sum()))
        data = tf.data.Dataset.sample_from_datasets(
            [data, fakes], weights=[share, 1 - share], seed=config.seed
        )
        count += int(fake.sum())
    data = data.batch(config.batch_size)
    steps = max(1, -(-count // config.batch_size))
    log.info("self-blended training set", extra={"real": len(real), "per_epoch": count})
    prepare = lambda x, y: (preprocess_frames(x, config.input_size), y)  # noqa: E731
    return data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2), steps
