"""CNN+GRU over face sequences: a per-face CNN whose features a GRU reads in time order.

The per-face CNN is :func:`model_export.models.small_cnn` (batch norm, dropout) with its own
sigmoid head; a GRU reads the CNN's features of ``T`` consecutive face crops of one video
(from the face cache, in time order) and a dropout + sigmoid head scores the sequence. Both
heads are trained together, each on the video's label, so the CNN branch is a face classifier
in its own right.

Training and scoring live here; the exported signatures (``classify_sequence`` beside the
contract's per-frame ones) and why the GRU stays out of ``serving_default`` are described in
:mod:`model_export.sequence_export`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

import contract
from model_export import roc
from model_export.augment import augment_image
from model_export.models import small_cnn
from model_export.preprocess import preprocess_frames
from model_export.train import (
    FrameSet,
    TrainConfig,
    TrainResult,
    calibrate_on,
    class_weights,
    fit_callbacks,
    video_scores,
)

log = logging.getLogger(__name__)

#: Signature of CNN+GRU versions that scores face sequences ``[B, T, H, W, 3]``.
SEQUENCE_SIGNATURE = contract.SEQUENCE_SIGNATURE
#: ``--arch`` value of the CNN+GRU.
SEQUENCE_ARCH = "cnn_gru"
#: Faces per training sequence (the window over a video's cached crops).
DEFAULT_SEQUENCE_LENGTH = 8
#: Output keys of the training model.
SEQUENCE_OUTPUT, FACES_OUTPUT = "sequence", "faces"


class PerFace(layers.Layer):
    """Run an image model on every face of ``[B, T, H, W, C]`` sequences as one batch.

    One ``[B*T]`` batch instead of ``TimeDistributed``'s per-step map keeps batch norm and
    the exported graph simple.
    """

    def __init__(self, inner: keras.Model, **kwargs) -> None:
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, sequences, training=None):
        shape = ops.shape(sequences)
        flat = ops.reshape(sequences, (-1, *self.inner.input_shape[1:]))
        out = self.inner(flat, training=training)
        return ops.reshape(out, (shape[0], shape[1], *out.shape[1:]))

    def compute_output_shape(self, input_shape):
        inner = self.inner.compute_output_shape((None, *input_shape[2:]))
        return (input_shape[0], input_shape[1], *inner[1:])


@dataclass
class CnnGru:
    """The two views of one set of weights."""

    #: float32 faces ``[N, H, W, 3]`` in [0, 1] -> P(fake) ``[N, 1]``: the CNN branch.
    face_model: keras.Model
    #: float32 sequences ``[B, T, H, W, 3]`` -> ``{"sequence": [B, 1], "faces": [B, T, 1]}``.
    sequence_model: keras.Model


def build_cnn_gru(
    input_size: tuple[int, int], *, width: int = 16, dropout: float = 0.3, seed: int = 0
) -> CnnGru:
    """Build an untrained CNN+GRU; the GRU has ``2 * width`` units."""
    face = small_cnn(input_size, width=width, dropout=dropout, seed=seed)
    features = keras.Model(face.input, face.get_layer("fc1").output, name="face_features")
    inputs = keras.Input((None, *input_size, 3), name="faces")
    x = PerFace(features, name="per_face")(inputs)
    # The CNN's own head on every face: the per-face score served by serving_default.
    per_face = face.get_layer("fake_probability")(x)
    x = layers.GRU(2 * width, seed=seed, name="gru")(x)
    x = layers.BatchNormalization(name="gru_bn")(x)
    x = layers.Dropout(dropout, seed=seed, name="gru_dropout")(x)
    sequence = layers.Dense(1, activation="sigmoid", name="sequence_probability")(x)
    model = keras.Model(inputs, {SEQUENCE_OUTPUT: sequence, FACES_OUTPUT: per_face}, name="cnn_gru")
    return CnnGru(face, model)


def compile_cnn_gru(model: keras.Model, learning_rate: float, steps: int) -> None:
    """Compile with both heads' losses, as training and the tuner do."""
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(1, steps), alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss={SEQUENCE_OUTPUT: "binary_crossentropy", FACES_OUTPUT: "binary_crossentropy"},
        metrics={SEQUENCE_OUTPUT: ["accuracy"]},
    )


@dataclass
class Sequences:
    """Windows of consecutive face crops with their video's label and id."""

    faces: np.ndarray  # uint8 [S, T, H, W, 3]
    labels: np.ndarray  # float32 [S]
    clip_ids: np.ndarray  # [S]
    clip_labels: dict[int, int]


def sequences_of(frames: FrameSet, length: int) -> Sequences:
    """Cut each video's crops (in time order) into windows of ``length``, half overlapping.

    A video with fewer crops repeats its last crop; the last window always ends on the last
    crop so that the end of a video is seen.
    """
    if length < 1:
        raise ValueError("sequence length must be at least 1")
    windows, labels, ids = [], [], []
    for clip_id in dict.fromkeys(frames.clip_ids.tolist()):
        index = np.flatnonzero(frames.clip_ids == clip_id)
        # The same windows the gateway cuts over a face track (one function for both).
        for window in contract.sequence_windows(len(index), length):
            picks = index[np.asarray(window)]
            windows.append(frames.frames[picks])
            labels.append(float(frames.clip_labels[int(clip_id)]))
            ids.append(clip_id)
    if not windows:
        shape = (0, length, *frames.frames.shape[1:])
        return Sequences(np.zeros(shape, np.uint8), np.zeros(0, np.float32), np.zeros(0), {})
    return Sequences(
        np.stack(windows), np.asarray(labels, np.float32), np.asarray(ids), frames.clip_labels
    )


def preprocess_sequences(faces: tf.Tensor, input_size: tuple[int, int]) -> tf.Tensor:
    """uint8 ``[B, T, H, W, 3]`` -> float32 ``[B, T, *input_size, 3]``, as frames are."""
    shape = tf.shape(faces)
    flat = tf.reshape(faces, tf.concat([[-1], shape[2:]], axis=0))
    x = preprocess_frames(flat, input_size)
    return tf.reshape(x, [shape[0], shape[1], input_size[0], input_size[1], 3])


def _balance(labels: np.ndarray) -> np.ndarray:
    """Per-sample weights that give REAL and FAKE sequences equal total weight."""
    weights = class_weights(labels)
    return np.array([weights[int(y)] for y in labels], np.float32)


def sequence_dataset(data: Sequences, config: TrainConfig, training: bool) -> tf.data.Dataset:
    """``(faces, targets, sample weights)`` batches for the two-headed model.

    Augmentation draws one seed per sequence, so every face of a sequence gets the same
    flip, tilt, colour, JPEG and blur: per-face jitter would be a temporal flicker that
    real videos do not have.
    """
    length = data.faces.shape[1]
    weights = _balance(data.labels) if training else np.ones(len(data.labels), np.float32)
    ds = tf.data.Dataset.from_tensor_slices((data.faces, data.labels, weights))
    if training:
        ds = ds.shuffle(len(data.labels), seed=config.seed, reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True)

        def jitter(item, seed):
            faces, label, weight = item
            if config.augment:
                faces = tf.map_fn(
                    lambda face: augment_image(face, seed), faces, fn_output_signature=tf.uint8
                )
            flip = tf.random.stateless_uniform([], seed + 1) < 0.5
            faces = tf.cond(flip, lambda: tf.reverse(faces, axis=[2]), lambda: faces)
            return faces, label, weight

        ds = tf.data.Dataset.zip(ds, seeds.batch(2)).map(
            jitter, num_parallel_calls=tf.data.AUTOTUNE
        )
    ds = ds.batch(config.batch_size)

    def prepare(faces, label, weight):
        x = preprocess_sequences(faces, config.input_size)
        targets = {
            SEQUENCE_OUTPUT: label[:, None],
            FACES_OUTPUT: tf.tile(label[:, None, None], [1, length, 1]),
        }
        sample_weights = {
            SEQUENCE_OUTPUT: weight,
            FACES_OUTPUT: tf.tile(weight[:, None], [1, length]),
        }
        return x, targets, sample_weights

    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def predict_sequences(model: keras.Model, faces: np.ndarray, config: TrainConfig) -> np.ndarray:
    """The GRU's fake probability ``[S]`` of uint8 sequences ``[S, T, H, W, 3]``."""
    ds = tf.data.Dataset.from_tensor_slices(faces).batch(config.batch_size)
    ds = ds.map(lambda x: preprocess_sequences(x, config.input_size))
    out = model.predict(ds, verbose=0)[SEQUENCE_OUTPUT]
    return np.asarray(out).reshape(-1)


def sequence_video_scores(
    model: keras.Model, frames: FrameSet, config: TrainConfig, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores per video: the mean GRU score of the video's windows (as the
    gateway scores a track with the sequence head)."""
    data = sequences_of(frames, length)
    window_scores = predict_sequences(model, data.faces, config)
    ids, scores = video_scores(window_scores, data.clip_ids, aggregation="mean")
    return np.array([data.clip_labels[int(i)] for i in ids]), scores


@dataclass
class SequenceResult(TrainResult):
    """A trained CNN+GRU: ``model`` is the CNN branch with the frame-level threshold."""

    sequence_model: keras.Model | None = None
    sequence_length: int = DEFAULT_SEQUENCE_LENGTH
    #: Threshold of the GRU's score, calibrated on validation videos.
    sequence_threshold: float = 0.5
    sequence_video_metrics: roc.BinaryMetrics | None = None

    def sequence_info(self) -> dict:
        """What the export info records about the sequence head."""
        return {
            "signature": SEQUENCE_SIGNATURE,
            "length": self.sequence_length,
            "threshold": self.sequence_threshold,
            "validation": {
                "video": self.sequence_video_metrics.as_dict()
                if self.sequence_video_metrics
                else None
            },
        }


def train_cnn_gru(
    train: FrameSet,
    val: FrameSet,
    config: TrainConfig,
    length: int = DEFAULT_SEQUENCE_LENGTH,
) -> SequenceResult:
    """Fit the CNN+GRU on windows of ``train``'s crops; calibrate both heads on ``val``.

    The frame threshold (shipped in ``serving_default``) is calibrated on the CNN branch's
    per-face scores, as for frame classifiers; the sequence threshold on the mean GRU score
    of each validation video.
    """
    keras.utils.set_random_seed(config.seed)
    train_seq, val_seq = sequences_of(train, length), sequences_of(val, length)
    log.info("sequences of %d faces: %d train, %d validation", length, len(train_seq.labels),
             len(val_seq.labels))  # fmt: skip
    net = build_cnn_gru(
        config.input_size, width=config.width, dropout=config.dropout, seed=config.seed
    )
    steps = max(1, -(-len(train_seq.labels) // config.batch_size)) * config.epochs
    compile_cnn_gru(net.sequence_model, config.learning_rate, steps)
    net.sequence_model.fit(
        sequence_dataset(train_seq, config, training=True),
        validation_data=sequence_dataset(val_seq, config, training=False),
        epochs=config.epochs,
        shuffle=False,  # the dataset shuffles itself
        verbose=0,
        callbacks=fit_callbacks(config),
    )
    threshold, frame_metrics, video_metrics = calibrate_on(net.face_model, val, config)
    seq_labels, seq_video = sequence_video_scores(net.sequence_model, val, config, length)
    seq_threshold = roc.best_threshold(seq_labels, seq_video)
    return SequenceResult(
        model=net.face_model,
        threshold=threshold,
        frame_metrics=frame_metrics,
        video_metrics=video_metrics,
        sequence_model=net.sequence_model,
        sequence_length=length,
        sequence_threshold=seq_threshold,
        sequence_video_metrics=roc.binary_metrics(seq_labels, seq_video, seq_threshold),
    )
