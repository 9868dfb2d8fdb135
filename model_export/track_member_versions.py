"""Published versions' track members, as an ensemble embeds them.

A track member scores one face track (:data:`contract.audio.AUDIO_FACE_COUNT` frames and the
track's box in each) rather than frames: the audio-visual member (``classify_audio``, which
also takes the waveform; :mod:`contract.audio`) and the talking-head member
(``classify_motion``; :mod:`contract.motion`). :func:`load_track_member` restores one from a
published version, so the ensemble's signature runs the version's own graph; how its score
joins the video score is fitted by :mod:`model_export.member_fit`. :func:`add_member_info` is
the own ``model_info`` of a published track member.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

import contract
from contract.audio import AUDIO_FACE_COUNT, AUDIO_MAX_SAMPLES, AUDIO_SAMPLE_RATE
from contract.motion import MOTION_SIGNATURE
from model_export.publish import INFO_RELATIVE_PATH, resolve_version


@dataclass
class TrackMember:
    """A published version's track member: its signature's inputs in order to P(fake) [B]."""

    name: str
    signature: str
    #: (waveform [B, S],) frames uint8 [B, T, H, W, 3], boxes [B, T, 4] to P(fake) [B].
    classify: Callable[..., tf.Tensor]
    resource: Any
    source: dict[str, Any]


def load_track_member(path: Path, signature: str) -> TrackMember:
    """The ``signature`` member (``classify_audio`` or ``classify_motion``) of the version at
    ``path`` (a version or its model); ValueError when the version lacks it."""
    if signature not in (contract.AUDIO_SIGNATURE, MOTION_SIGNATURE):
        raise ValueError(f"{signature!r} is not a track member's signature")
    version = resolve_version(path)
    restored = tf.saved_model.load(str(version))
    endpoint = getattr(restored, signature, None)
    if endpoint is None:
        raise ValueError(f"{version} has no {signature!r} signature")
    info_path = version / INFO_RELATIVE_PATH
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}

    def classify(*inputs: tf.Tensor) -> tf.Tensor:
        return tf.reshape(endpoint(*inputs)[contract.FAKE_PROBABILITY], [-1])

    default_arch = "audio_visual" if signature == contract.AUDIO_SIGNATURE else "talking_head"
    name = f"{info.get('arch', default_arch)}@{version.parent.name}/{version.name}"
    source: dict[str, Any] = {"path": str(version)}
    if signature == contract.AUDIO_SIGNATURE:
        source["sample_rate"] = AUDIO_SAMPLE_RATE
    return TrackMember(name, signature, classify, restored, source)


def track_specs() -> list[tf.TensorSpec]:
    """Inputs of ``classify_motion``: a track's frames and its boxes in them."""
    return [
        tf.TensorSpec(
            [None, AUDIO_FACE_COUNT, None, None, 3], tf.uint8, name=contract.FRAMES_INPUT
        ),
        tf.TensorSpec([None, AUDIO_FACE_COUNT, 4], tf.float32, name=contract.FACE_BOXES),
    ]


def audio_specs() -> list[tf.TensorSpec]:
    """Inputs of ``classify_audio``: the waveform, then :func:`track_specs`."""
    return [
        tf.TensorSpec([None, AUDIO_MAX_SAMPLES], tf.float32, name=contract.AUDIO_INPUT),
        *track_specs(),
    ]


def add_member_info(
    archive: keras.export.ExportArchive,
    threshold: float,
    extra: Callable[[tf.Tensor], dict[str, tf.Tensor]] | None = None,
) -> None:
    """A track member's own ``model_info``: its threshold, no frame side, and ``extra``'s
    outputs (per row, as Serving's batching needs) for the ``[N]`` rows asked about."""

    def info(frames: tf.Tensor) -> dict[str, tf.Tensor]:
        n = tf.shape(frames)[:1]
        outputs = {
            contract.THRESHOLD: tf.fill(n, threshold),
            contract.FRAME_MIN_SIDE: tf.zeros(n, tf.int32),
        }
        return {**outputs, **(extra(n) if extra is not None else {})}

    archive.add_endpoint(
        contract.MODEL_INFO_SIGNATURE,
        info,
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="frames")],
    )
