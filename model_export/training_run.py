"""One training run, from labelled videos to a published version.

Ingest (:mod:`model_export.datasets`), split by group, face crops from the cache or whole
frames, optional tuning and cross-validation, training, calibration on validation (the
decision threshold, and Platt scaling of the probabilities fitted on the validation clips'
aggregated scores, both shipped in the graph), test, gate and publish.
``python -m model_export train`` and ``demo`` both run :func:`run`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from contract.aggregation import DEFAULT_AGGREGATION, aggregate_scores
from contract.sampling import DEFAULT_FRAMES_PER_VIDEO
from model_export import roc
from model_export.calibration import Calibration, fit_clip_calibration
from model_export.datasets import LabelledVideo, discover, split_by_group
from model_export.export import frame_min_side_for, publish_version
from model_export.face_cache import extract_faces, read_landmarks, read_shard
from model_export.face_export import FaceConfig, publish_face_version
from model_export.finetune import train_staged
from model_export.gate import auc_gate
from model_export.models import PRETRAINED_ARCHITECTURES
from model_export.operating_points import Evidence
from model_export.preprocess import preprocess_frames
from model_export.sequence import (
    DEFAULT_SEQUENCE_LENGTH,
    SEQUENCE_ARCH,
    SequenceResult,
    sequence_video_scores,
    train_cnn_gru,
)
from model_export.sequence_export import publish_sequence_version
from model_export.train import (
    FrameSet,
    TrainConfig,
    TrainResult,
    predict_frames,
    train_classifier,
    video_scores,
)
from model_export.video_io import sample_frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a training run decides (``train`` and ``demo`` both build one)."""

    data: tuple[Path, ...]
    output: Path
    train: TrainConfig = field(default_factory=TrainConfig)
    faces: FaceConfig | None = field(default_factory=FaceConfig)
    frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    #: Train on self-blended pseudo-fakes of the real faces, generated every epoch.
    self_blend: bool = False
    #: With ``self_blend``, mix the labelled fakes in too.
    mix_fakes: bool = False
    #: With ``self_blend``, new pseudo-fakes of each real face per epoch.
    blend_draws: int = 4
    folds: int = 0
    cache_dir: Path = Path("var/face-cache")
    gate_data: tuple[Path, ...] = ()
    #: Keras Tuner trials before the final training (0 = no search).
    tune_trials: int = 0
    #: Faces per sequence of the CNN+GRU (``arch="cnn_gru"``).
    sequence_length: int = DEFAULT_SEQUENCE_LENGTH
    #: Recorded as ``kind`` in the export info.
    kind: str = "trained"


def images_of(videos: Sequence[LabelledVideo], config: PipelineConfig) -> FrameSet:
    """Training images of ``videos``: cached face crops, or whole frames at the input size."""
    size = config.train.input_size
    if config.faces is not None:
        shards = extract_faces(
            videos,
            config.cache_dir,
            size=size[0],
            faces=config.faces,
            frames_per_video=config.frames_per_video,
            landmarks=config.self_blend,
        )
        per_video = [read_shard(s) for s in shards]
        landmarks = [read_landmarks(s) for s in shards] if config.self_blend else None
        if landmarks is not None:
            landmarks = _meshed(per_video, landmarks, videos)
    else:
        landmarks = None
        # At the size the gateway sends this version's frames (its model_info's min side).
        min_side = frame_min_side_for(size)
        per_video = [
            tf.cast(tf.round(preprocess_frames(
                sample_frames(v.path, config.frames_per_video, min_side=min_side), size) * 255),
                tf.uint8).numpy()
            for v in videos
        ]  # fmt: skip
    images = np.concatenate(per_video) if per_video else np.zeros([0, *size, 3], np.uint8)
    labels = np.concatenate(
        [np.full(len(x), v.label, np.float32) for x, v in zip(per_video, videos, strict=True)]
    )
    ids = np.concatenate([np.full(len(x), i) for i, x in enumerate(per_video)])
    marks = np.concatenate(landmarks) if landmarks else None
    return FrameSet(images, labels, ids, {i: v.label for i, v in enumerate(videos)}, marks)


def _meshed(
    crops: list[np.ndarray], five: list[np.ndarray], videos: Sequence[LabelledVideo]
) -> list[np.ndarray]:
    """Five points plus the face mesh of every REAL video's crops (only those are blended),
    computed once here and kept in memory with the crops; the cache keeps five points."""
    from model_export.faces.face_mesh import load_face_mesh, with_mesh

    mesh = load_face_mesh()
    marks = [
        with_mesh(c, p, mesh if v.label == 0 else None)
        for c, p, v in zip(crops, five, videos, strict=True)
    ]
    real = [m for m, v in zip(marks, videos, strict=True) if v.label == 0]
    meshed = sum(int(np.all(np.isfinite(m[:, 5:]), axis=(1, 2)).sum()) for m in real)
    log.info("face mesh", extra={"real_faces": sum(len(m) for m in real), "meshed": meshed})
    return marks


def _with_self_blend(frames: FrameSet, seed: int) -> FrameSet:
    """A fixed set with one pseudo-fake per real face (for validation and tuning)."""
    from model_export.self_blend import self_blended_set

    return self_blended_set(frames, frames.landmarks, seed)


def _video_metrics(model, frames: FrameSet, config: TrainConfig, threshold: float):
    scores = predict_frames(model, frames.frames, config)
    ids, video = video_scores(scores, frames.clip_ids)
    labels = np.array([frames.clip_labels[int(i)] for i in ids])
    return roc.binary_metrics(labels, video, threshold)


def validation_calibration(
    model: keras.Model, val: FrameSet, config: TrainConfig, data: str = "validation clips"
) -> tuple[Calibration, Evidence]:
    """Platt scaling fitted on the validation clips' scores, aggregated as the gateway does,
    and those clips' calibrated video scores (what the operating points are fitted on;
    ``data`` says where the clips came from)."""
    scores = predict_frames(model, val.frames, config)
    ids = np.unique(val.clip_ids)
    labels = np.array([val.clip_labels[int(i)] for i in ids])
    clips = [scores[val.clip_ids == i] for i in ids]
    calibration = fit_clip_calibration(labels, clips)
    calibrated = np.array(
        [aggregate_scores(calibration.apply(c), DEFAULT_AGGREGATION) for c in clips]
    )
    return calibration, Evidence(labels, calibrated, fitted_on="validation", data=data)


def fit(train: FrameSet, val: FrameSet, config: PipelineConfig) -> TrainResult:
    """Train the configured architecture (a frame classifier or the CNN+GRU)."""
    if config.train.arch == SEQUENCE_ARCH:
        if config.self_blend:
            # Sequences are cut from whole clips: pseudo-fake clips are generated once.
            train = _with_self_blend(train, config.train.seed)
        return train_cnn_gru(train, val, config.train, config.sequence_length)
    if config.self_blend or config.train.arch in PRETRAINED_ARCHITECTURES:
        return train_staged(
            train, val, config.train, self_blend=config.self_blend,
            landmarks=train.landmarks, mix_fakes=config.mix_fakes, draws=config.blend_draws,
        )  # fmt: skip
    return train_classifier(train, val, config.train)


def cross_validate(videos: Sequence[LabelledVideo], config: PipelineConfig) -> list[float]:
    """Video-level ROC-AUC of each of ``config.folds`` group folds."""
    parts = split_by_group(videos, [1.0] * config.folds, config.train.seed)
    aucs = []
    for k in range(config.folds):
        train_videos = [v for j, p in enumerate(parts) if j != k for v in p]
        train, val = images_of(train_videos, config), images_of(parts[k], config)
        if config.self_blend and val.labels.min(initial=1) == val.labels.max(initial=0):
            val = _with_self_blend(val, config.train.seed + 1)
        result = fit(train, val, config)
        aucs.append(result.video_metrics.roc_auc)
        log.info("fold %d/%d video AUC %.4f", k + 1, config.folds, aucs[-1])
        if isinstance(result, SequenceResult) and result.sequence_video_metrics is not None:
            log.info(
                "fold %d/%d sequence (GRU) video AUC %.4f",
                k + 1,
                config.folds,
                result.sequence_video_metrics.roc_auc,
            )
    return aucs


def run(config: PipelineConfig) -> tuple[Path, dict]:
    """Train, calibrate on validation, test, and publish through the gate; return the version."""
    videos = discover(config.data)
    if not videos:
        raise ValueError("no labelled videos found")
    report: dict = {}
    if config.folds > 1:
        aucs = cross_validate(videos, config)
        report["cross_validation_video_auc"] = {
            "folds": aucs,
            "mean": float(np.nanmean(aucs)),
            "std": float(np.nanstd(aucs)),
        }
    train_f = 1.0 - config.val_fraction - config.test_fraction
    train_videos, val_videos, test_videos = split_by_group(
        videos, [train_f, config.val_fraction, config.test_fraction], config.train.seed
    )
    log.info(
        "split by group: %d train, %d validation, %d test videos",
        len(train_videos),
        len(val_videos),
        len(test_videos),
    )
    train, val = images_of(train_videos, config), images_of(val_videos, config)
    # Self-blended training generates its pseudo-fakes per epoch (in fit); validation of
    # real faces only gets a fixed set of them.
    if config.self_blend and val.labels.min(initial=1) == val.labels.max(initial=0):
        val = _with_self_blend(val, config.train.seed + 1)
    if config.tune_trials > 0:
        from model_export.tuning import tune

        tuned = tune(
            _with_self_blend(train, config.train.seed) if config.self_blend else train,
            val,
            config.train,
            trials=config.tune_trials,
            directory=config.cache_dir / "tuner",
            sequence_length=config.sequence_length,
        )
        report["tuning"] = tuned.as_dict()
        config = replace(config, train=tuned.config)
    result = fit(train, val, config)
    calibration, evidence = validation_calibration(
        result.model,
        val,
        config.train,
        data=f"validation split ({len(val_videos)} videos) of {', '.join(map(str, config.data))}",
    )
    report["validation"] = {
        "frame": result.frame_metrics.as_dict(),
        "video": result.video_metrics.as_dict(),
    }
    if result.pretext is not None:
        report["pretext"] = result.pretext
    if test_videos:
        test = images_of(test_videos, config)
        report["test"] = {
            "video": _video_metrics(result.model, test, config.train, result.threshold).as_dict()
        }
        if isinstance(result, SequenceResult):
            labels, scores = sequence_video_scores(
                result.sequence_model, test, config.train, result.sequence_length
            )
            report["test"]["sequence_video"] = roc.binary_metrics(
                labels, scores, result.sequence_threshold
            ).as_dict()
    gate = None
    if config.gate_data:
        gate = auc_gate(config.output, discover(config.gate_data), config.frames_per_video)
    info = {
        "kind": config.kind,
        "arch": config.train.arch,
        "data": [str(p) for p in config.data],
        "self_blend": config.self_blend,
        "mix_fakes": config.mix_fakes,
        "blend_draws": config.blend_draws if config.self_blend else None,
        "augment": config.train.augment,
        "hyperparameters": {
            "learning_rate": config.train.learning_rate,
            "dropout": config.train.dropout,
            "width": config.train.width,
        },
        **report,
    }
    common = dict(
        threshold=result.threshold, input_size=config.train.input_size, info=info, gate=gate,
        calibration=calibration, evidence=evidence,
    )  # fmt: skip
    if isinstance(result, SequenceResult):
        path = publish_sequence_version(
            result, config.output.parent, config.output.name, faces=config.faces,
            input_size=config.train.input_size, info=info, gate=gate, calibration=calibration,
        )  # fmt: skip
    elif config.faces is not None:
        path = publish_face_version(
            result.model, config.output.parent, config.output.name, faces=config.faces, **common
        )
    else:
        path = publish_version(result.model, config.output.parent, config.output.name, **common)
    # After publishing: the version's info records the calibration itself (version_info).
    report["calibration"] = calibration.as_dict()
    # The threshold the version ships, on the calibrated scale.
    report["threshold"] = calibration.apply_threshold(result.threshold)
    report["threshold_uncalibrated"] = result.threshold
    return path, report


def summary_lines(report: dict) -> list[str]:
    """Human-readable lines of what a run measured (validation, test, tuning, folds)."""
    lines = []
    for part in ("validation", "test"):
        if part in report:
            m = report[part]["video"]
            lines.append(
                f"{part} videos: n={m['count']} accuracy {m['accuracy']:.3f} "
                f"ROC-AUC {m['roc_auc']:.3f} log-loss {m['log_loss']:.3f}"
            )
    if "calibration" in report:
        c = report["calibration"]
        lines.append(
            f"calibration (validation videos): a={c['a']:.3f} b={c['b']:.3f}, video log-loss "
            f"{c['log_loss_before']:.3f} -> {c['log_loss_after']:.3f}"
            if c["fitted_on_videos"]
            else "calibration: identity (no validation videos)"
        )
    if "tuning" in report:
        tuning = report["tuning"]
        lines.append(
            f"tuning: best of {tuning['trials']} trials {tuning['best_hyperparameters']} "
            f"({tuning['objective']} {tuning['best_score']:.4f})"
        )
    if "cross_validation_video_auc" in report:
        cv = report["cross_validation_video_auc"]
        lines.append(f"cross-validation video AUC {cv['mean']:.3f} +/- {cv['std']:.3f}")
    return lines
