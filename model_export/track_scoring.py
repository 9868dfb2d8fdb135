"""Labelled videos as the gateway sees them for its track members: the visual video score,
one face track's frames and boxes, and the waveform.

The frames and boxes are :func:`contract.audio.audio_track_frames` of the ensemble's own
answer (``outputs``, the graph's ``serving_default`` plus what fitting needs), and the visual
score is :func:`contract.aggregation.decide` on the same answer, so a track member's
combination (:mod:`model_export.member_fit`) is fitted on the numbers the gateway joins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from contract.aggregation import DEFAULT_AGGREGATION, decide, frame_results
from contract.audio import audio_track_frames
from model_export.audio_io import read_waveform
from model_export.datasets import LabelledVideo
from model_export.video_io import decode_samples

#: A graph's answer to frames: ``serving_default``'s outputs (and more).
Outputs = Callable[[tf.Tensor], dict[str, tf.Tensor]]


@dataclass(frozen=True)
class TrackedVideo:
    """One labelled video's visual score, its track member inputs and its waveform."""

    label: int
    visual: float
    #: uint8 [T, H, W, 3] and float32 [T, 4]; None when no frame lies inside the window.
    frames: np.ndarray | None
    boxes: np.ndarray | None
    #: The contract's waveform [S]; None without sound or when not asked for.
    wave: np.ndarray | None


def track_videos(
    outputs: Outputs,
    videos: Sequence[LabelledVideo],
    frames_per_video: int,
    threshold: float,
    *,
    with_audio: bool,
) -> list[TrackedVideo]:
    """Each video scored by ``outputs`` through the video rule, with its track's frames and
    boxes and, when ``with_audio``, its waveform (:func:`model_export.audio_io.read_waveform`)."""
    tracked = []
    for video in videos:
        clip = decode_samples(video.path, frames_per_video)
        out = {k: v.numpy() for k, v in outputs(tf.constant(clip.frames)).items()}
        results, face_aware = frame_results(out, clip.times_s)
        verdict = decide(
            results, face_aware=face_aware, threshold=threshold, aggregation=DEFAULT_AGGREGATION
        )
        picked = audio_track_frames(results, face_aware=face_aware)
        frames = boxes = None
        if picked is not None:
            rows, chosen = picked
            frames, boxes = clip.frames[rows], np.asarray(chosen, np.float32)
        wave = read_waveform(video.path) if with_audio else None
        tracked.append(TrackedVideo(video.label, verdict.score, frames, boxes, wave))
    return tracked
