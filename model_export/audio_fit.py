"""How an ensemble's audio-visual member joins the video score, fitted on labelled clips.

An ensemble with an audio-visual member (:func:`load_audio_member`: a published version's
``classify_audio``) ships a :class:`contract.audio.AudioCombination`. It is fitted on labelled
videos with sound, from the two numbers the gateway has for each: the visual video score
(:func:`contract.aggregation.decide` on the ensemble's own answer) and the member's score on
the frames and boxes :func:`contract.audio.audio_track_frames` picks (:func:`score_with_audio`).

The fit (:func:`fit_audio_combination`) is a logistic regression on the two logits, classes
weighted to :data:`~model_export.calibration.DEPLOYMENT_FAKE_PRIOR`, with a normal prior
centred on the identity (visual weight 1, audio weight 0, bias 0) that counts for
``1 / n_eff`` of the mean log-loss, as the Platt fit does (:mod:`model_export.calibration`):
on a few videos, or one-sided ones, the member is barely joined. A fitted visual weight that
is not positive (the joined score would fall as the visual one rises) gives the identity.
The videos must come from sources neither the members nor the ensemble trained on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

import contract
from contract.aggregation import DEFAULT_AGGREGATION, decide, frame_results
from contract.audio import (
    AUDIO_FACE_COUNT,
    AUDIO_MAX_SAMPLES,
    AUDIO_SAMPLE_RATE,
    AudioCombination,
    audio_track_frames,
)
from model_export.audio_io import read_waveform
from model_export.calibration import (
    DEPLOYMENT_FAKE_PRIOR,
    PRIOR_SD,
    class_weights,
    effective_size,
    logit,
)
from model_export.datasets import LabelledVideo
from model_export.publish import INFO_RELATIVE_PATH, resolve_version
from model_export.video_io import decode_samples

log = logging.getLogger(__name__)

#: Probabilities are kept this far from 0 and 1 before their logit is taken.
_EPSILON = 1e-6


@dataclass
class AudioMember:
    """A published version's audio-visual member, as an ensemble embeds it."""

    name: str
    #: waveform [B, S], frames uint8 [B, T, H, W, 3], boxes [B, T, 4] to P(fake) [B].
    classify: Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]
    resource: Any
    source: dict[str, Any]


def load_audio_member(path: Path) -> AudioMember:
    """The ``classify_audio`` member of the version at ``path`` (a version or its model)."""
    version = resolve_version(path)
    restored = tf.saved_model.load(str(version))
    endpoint = getattr(restored, contract.AUDIO_SIGNATURE, None)
    if endpoint is None:
        raise ValueError(f"{version} has no {contract.AUDIO_SIGNATURE!r} signature")
    info_path = version / INFO_RELATIVE_PATH
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}

    def classify(audio: tf.Tensor, frames: tf.Tensor, boxes: tf.Tensor) -> tf.Tensor:
        return tf.reshape(endpoint(audio, frames, boxes)[contract.FAKE_PROBABILITY], [-1])

    name = f"{info.get('arch', 'audio_visual')}@{version.parent.name}/{version.name}"
    return AudioMember(
        name, classify, restored, {"path": str(version), "sample_rate": AUDIO_SAMPLE_RATE}
    )


def audio_specs() -> list[tf.TensorSpec]:
    """Inputs of ``classify_audio``: the waveform, a track's frames and its boxes in them."""
    return [
        tf.TensorSpec([None, AUDIO_MAX_SAMPLES], tf.float32, name=contract.AUDIO_INPUT),
        tf.TensorSpec(
            [None, AUDIO_FACE_COUNT, None, None, 3], tf.uint8, name=contract.FRAMES_INPUT
        ),
        tf.TensorSpec([None, AUDIO_FACE_COUNT, 4], tf.float32, name=contract.FACE_BOXES),
    ]


@dataclass(frozen=True)
class AudioScores:
    """Labelled videos with sound: their visual video scores and the member's scores."""

    visual: np.ndarray
    member: np.ndarray
    labels: np.ndarray
    #: Videos left out: no audio stream, or no face inside the audio window.
    skipped: int


def score_with_audio(
    outputs: Callable[[tf.Tensor], dict[str, tf.Tensor]],
    member: AudioMember,
    videos: Sequence[LabelledVideo],
    frames_per_video: int,
    threshold: float,
) -> AudioScores:
    """Each video's visual score (the ensemble's ``outputs`` through the video rule) and the
    member's score, as the gateway computes them."""
    visual, heard, labels, skipped = [], [], [], 0
    for video in videos:
        wave = read_waveform(video.path)
        if wave is None:  # no sound: nothing to fit on, so its frames are not scored
            skipped += 1
            continue
        clip = decode_samples(video.path, frames_per_video)
        out = {k: v.numpy() for k, v in outputs(tf.constant(clip.frames)).items()}
        results, face_aware = frame_results(out, clip.times_s)
        picked = audio_track_frames(results, face_aware=face_aware)
        if picked is None:
            skipped += 1
            continue
        rows, boxes = picked
        verdict = decide(
            results, face_aware=face_aware, threshold=threshold, aggregation=DEFAULT_AGGREGATION
        )
        score = member.classify(
            tf.constant(wave[None, :]),
            tf.constant(clip.frames[rows][None, ...]),
            tf.constant(np.asarray(boxes, np.float32)[None, ...]),
        )
        visual.append(verdict.score)
        heard.append(float(score.numpy()[0]))
        labels.append(video.label)
    return AudioScores(np.array(visual), np.array(heard), np.array(labels), skipped)


def fit_audio_combination(
    scores: AudioScores, *, fake_prior: float = DEPLOYMENT_FAKE_PRIOR, floor: float = 0.0
) -> tuple[AudioCombination, dict[str, Any]]:
    """The combination fitted on ``scores`` (see the module), and what the fit saw."""
    y = scores.labels.astype(np.float64)
    n_eff = effective_size(scores.labels, fake_prior)
    report: dict[str, Any] = {"videos": len(y), "skipped": scores.skipped, "n_eff": n_eff}
    if n_eff <= 0:
        report["why_identity"] = "needs REAL and FAKE videos with sound"
        return AudioCombination(floor=floor), report
    w = class_weights(scores.labels, fake_prior)
    x = np.stack([logit(scores.visual, _EPSILON), logit(scores.member, _EPSILON)], axis=1)
    design = np.concatenate([x, np.ones([len(y), 1])], axis=1)
    centre = np.array([1.0, 0.0, 0.0])
    strength = len(y) / (PRIOR_SD**2 * n_eff)  # the prior's share of the summed log-loss
    theta = centre.copy()
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -50, 50)))
        gradient = design.T @ (w * (p - y)) + strength * (theta - centre)
        hessian = (design * (w * p * (1 - p))[:, None]).T @ design + strength * np.eye(3)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    visual, audio, bias = (float(v) for v in theta)
    report.update(visual=visual, audio=audio, bias=bias)
    if visual <= 0:
        report["why_identity"] = "the fitted visual weight is not positive"
        return AudioCombination(floor=floor), report
    return AudioCombination(visual, audio, bias, floor), report
