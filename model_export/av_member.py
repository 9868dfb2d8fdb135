"""A tiny audio-visual member: trained on synthetic talking clips, exported with audio.

Its graph takes the contract's waveform and a face track's frames and boxes
(``contract.audio``): the log-mel features (:mod:`model_export.audio_features`) and the face
crops (:func:`member_faces`, cut with :data:`FACE_MARGIN`) happen inside it, so serving
computes them as training did. Exported with ``classify_audio`` and a
``model_info`` whose ``audio_sample_rate`` says it takes audio. The plumbing of a future
lip-sync member, not a detector: its data is :mod:`model_export.av_demo_data`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import contract
from contract.audio import (
    AUDIO_FACE_COUNT,
    AUDIO_MAX_SAMPLES,
    AUDIO_SAMPLE_RATE,
    WHOLE_FRAME_BOX,
    fit_waveform,
)

from .audio_features import LogMel
from .av_demo_data import TalkingClip
from .faces import crop_faces
from .track_member_versions import add_member_info, audio_specs

log = logging.getLogger(__name__)

#: The side faces are resized to inside the graph.
FACE_SIDE = 32


#: The margin faces are cut with, as a share of the box's height and width on each side.
FACE_MARGIN = 0.1


def member_faces(frames: tf.Tensor, boxes: tf.Tensor) -> tf.Tensor:
    """uint8 [B, T, H, W, 3] frames and float32 [B, T, 4] boxes to float32
    [B, T, FACE_SIDE, FACE_SIDE, 3] face crops in [0, 1], cut as the face-aware graphs cut."""
    shape = tf.shape(frames)
    flat = tf.reshape(frames, tf.concat([[-1], shape[2:]], axis=0))
    flat_boxes = tf.reshape(tf.cast(boxes, tf.float32), [-1, 1, 4])
    count = tf.ones([tf.shape(flat)[0]], tf.int32)
    crops = crop_faces(flat, flat_boxes, count, size=FACE_SIDE, margin=FACE_MARGIN)
    return tf.reshape(crops / 255.0, [shape[0], AUDIO_FACE_COUNT, FACE_SIDE, FACE_SIDE, 3])


def build_member() -> keras.Model:
    """Waveform [S] and prepared faces [T, side, side, 3] to a fake probability [1]."""
    audio = keras.Input((AUDIO_MAX_SAMPLES,), name=contract.AUDIO_INPUT)
    faces = keras.Input((AUDIO_FACE_COUNT, FACE_SIDE, FACE_SIDE, 3), name=contract.FACES_INPUT)
    sound = keras.layers.GlobalAveragePooling1D()(LogMel()(audio))
    sound = keras.layers.Dense(16, activation="relu")(sound)
    sight = keras.layers.Reshape((AUDIO_FACE_COUNT, FACE_SIDE * FACE_SIDE * 3))(faces)
    sight = keras.layers.Flatten()(keras.layers.Dense(4, activation="relu")(sight))
    joint = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()([sound, sight]))
    out = keras.layers.Dense(1, activation="sigmoid")(joint)
    return keras.Model([audio, faces], out, name="audio_visual")


def clip_arrays(
    clips: list[TalkingClip],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Waveforms [B, S] (the contract's cut/pad), uint8 frames [B, T, H, W, 3], boxes
    [B, T, 4] (the whole frame: a synthetic clip's frame is its face) and labels [B]."""
    waves = np.stack([fit_waveform(c.waveform) for c in clips])
    frames = np.stack([c.frames[:AUDIO_FACE_COUNT] for c in clips])
    boxes = np.tile(np.asarray(WHOLE_FRAME_BOX, np.float32), (len(clips), AUDIO_FACE_COUNT, 1))
    labels = np.array([c.label for c in clips], np.float32)
    return waves, frames, boxes, labels


def train_member(clips: list[TalkingClip], *, epochs: int = 20, seed: int = 0) -> keras.Model:
    """Train :func:`build_member` on ``clips`` (seconds, not minutes)."""
    keras.utils.set_random_seed(seed)
    waves, frames, boxes, labels = clip_arrays(clips)
    model = build_member()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    faces = member_faces(tf.constant(frames), tf.constant(boxes)).numpy()
    history = model.fit([waves, faces], labels, epochs=epochs, verbose=0)
    log.info("audio-visual member trained", extra={"loss": history.history["loss"][-1]})
    return model


def export_member(model: keras.Model, path: Path, *, threshold: float = 0.5) -> Path:
    """Write ``model`` as a SavedModel with ``classify_audio`` and ``model_info``."""
    archive = keras.export.ExportArchive()
    archive.track(model)

    def classify(audio: tf.Tensor, frames: tf.Tensor, boxes: tf.Tensor) -> dict[str, tf.Tensor]:
        score = tf.reshape(model([audio, member_faces(frames, boxes)]), [-1])
        return {
            contract.FAKE_PROBABILITY: score,
            contract.THRESHOLD: tf.fill(tf.shape(score), threshold),
        }

    archive.add_endpoint(contract.AUDIO_SIGNATURE, classify, input_signature=audio_specs())
    add_member_info(
        archive,
        threshold,
        lambda n: {contract.AUDIO_SAMPLE_RATE_OUTPUT: tf.fill(n, AUDIO_SAMPLE_RATE)},
    )
    archive.write_out(str(path))
    return path
