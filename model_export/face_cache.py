"""Extract face crops once, with the served detector, into a resumable TFRecord cache.

Each video becomes one shard ``<cache>/<key>.tfrecord`` written under a temporary name and
renamed when complete, so an interrupted run resumes where it stopped. Crops are cut by
:func:`model_export.face_export.face_crops`, the function the exported graph runs; a frame
without a detected face is kept whole (resized), as the served graph classifies it.

Each crop is stored with its five O-Net landmarks in crop coordinates
(:func:`model_export.faces.landmarks.face_landmarks`; NaN for a whole frame), which
self-blended training needs for its masks. Shards written before landmarks were stored are
rewritten when a caller asks for landmarks.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import tensorflow as tf

from contract.frames import DEFAULT_MAX_SIDE
from contract.sampling import DEFAULT_FRAMES_PER_VIDEO
from model_export.datasets import LabelledVideo
from model_export.face_export import FaceConfig, face_crops
from model_export.faces.landmarks import face_landmarks
from model_export.preprocess import preprocess_frames
from model_export.video_io import sample_frames

log = logging.getLogger(__name__)


class _Cropper:
    """Compiled crop function for one crop size and face configuration."""

    def __init__(self, size: int, faces: FaceConfig) -> None:
        self.size = size

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
        def crop(frames: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
            crops, boxes, _scores, count = face_crops(frames, size, faces)
            whole = tf.cast(tf.round(preprocess_frames(frames, (size, size)) * 255.0), tf.uint8)
            points = face_landmarks(frames, boxes, count, faces.margin)
            return crops, count, whole, points

        self._crop = crop

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All faces of all frames ``[K, size, size, 3]`` and their landmarks ``[K, 5, 2]``.

        A faceless frame gives itself, with NaN landmarks.
        """
        crops, count, whole, points = (t.numpy() for t in self._crop(tf.constant(frames)))
        out, marks = [], []
        for i, n in enumerate(count):
            out.extend(crops[i, :n] if n > 0 else [whole[i]])
            marks.extend(points[i, :n] if n > 0 else [np.full([5, 2], np.nan, np.float32)])
        return np.stack(out), np.stack(marks).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _cropper(size: int, faces: FaceConfig) -> _Cropper:
    """The compiled crop function for ``size`` and ``faces``, traced once per process.

    Tracing the detector's graph costs seconds; a run extracts its training and validation
    splits (and cross-validation folds) with the same settings, so they share one.
    """
    return _Cropper(size, faces)


def cache_key(video: Path, size: int, faces: FaceConfig, frames_per_video: int) -> str:
    """Shard name: depends on the file, its size and mtime, and every extraction setting."""
    stat = Path(video).stat()
    text = json.dumps(
        [str(Path(video).resolve()), stat.st_size, stat.st_mtime_ns, size, asdict(faces),
         frames_per_video, "sampled-by-time", DEFAULT_MAX_SIDE, "keyframe-aware"], sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _write_shard(path: Path, crops: np.ndarray, landmarks: np.ndarray) -> None:
    tmp = path.with_suffix(".partial")
    with tf.io.TFRecordWriter(str(tmp)) as writer:
        for crop, points in zip(crops, landmarks, strict=True):
            feature = {
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[crop.tobytes()])),
                "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=list(crop.shape))),
                "landmarks": tf.train.Feature(
                    float_list=tf.train.FloatList(value=points.reshape(-1).tolist())
                ),
            }
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    tmp.replace(path)


def read_shard(path: Path) -> np.ndarray:
    """The crops of one shard as ``uint8 [K, H, W, 3]``."""
    crops = []
    for raw in tf.data.TFRecordDataset(str(path)):
        example = tf.train.Example.FromString(raw.numpy())
        shape = list(example.features.feature["shape"].int64_list.value)
        image = example.features.feature["image"].bytes_list.value[0]
        crops.append(np.frombuffer(image, np.uint8).reshape(shape))
    return np.stack(crops) if crops else np.zeros([0, 1, 1, 3], np.uint8)


def read_landmarks(path: Path) -> np.ndarray:
    """The landmarks of one shard's crops, ``float32 [K, 5, 2]`` (NaN where there are none)."""
    marks = []
    for raw in tf.data.TFRecordDataset(str(path)):
        values = tf.train.Example.FromString(raw.numpy()).features.feature["landmarks"]
        points = np.asarray(values.float_list.value, np.float32)
        marks.append(points.reshape(5, 2) if points.size == 10 else np.full([5, 2], np.nan))
    return np.asarray(marks, np.float32).reshape(-1, 5, 2)


def has_landmarks(path: Path) -> bool:
    """Whether a shard stores landmarks (shards of older versions do not)."""
    for raw in tf.data.TFRecordDataset(str(path)).take(1):
        return "landmarks" in tf.train.Example.FromString(raw.numpy()).features.feature
    return True


def extract_faces(
    videos: Sequence[LabelledVideo],
    cache_dir: Path,
    *,
    size: int,
    faces: FaceConfig | None = None,
    frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO,
    landmarks: bool = False,
) -> list[Path]:
    """Make sure every video has a shard of face crops; return the shard paths in order.

    With ``landmarks``, shards that lack landmarks are extracted again.
    """
    faces = faces or FaceConfig()
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    shards, started, done = [], time.monotonic(), 0
    for i, video in enumerate(videos, start=1):
        shard = cache_dir / f"{cache_key(video.path, size, faces, frames_per_video)}.tfrecord"
        shards.append(shard)
        if not shard.is_file() or (landmarks and not has_landmarks(shard)):
            _write_shard(shard, *_cropper(size, faces)(sample_frames(video.path, frames_per_video)))
            done += 1
        _progress(i, len(videos), started, done)
    return shards


def _progress(i: int, total: int, started: float, extracted: int) -> None:
    elapsed = time.monotonic() - started
    eta = elapsed / i * (total - i)
    sys.stderr.write(
        f"\rfaces {i}/{total} ({extracted} extracted, {elapsed:.0f} s, ~{eta:.0f} s left)"
    )
    if i == total:
        sys.stderr.write("\n")
    sys.stderr.flush()
