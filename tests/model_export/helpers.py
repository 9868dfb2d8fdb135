"""Small real clips and layouts for the model_export tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import contract
from model_export.savedmodel import LoadedVersion
from model_export.video_io import encode_clip


def predict_frames(loaded: LoadedVersion, frames: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Fake probability per frame of ``uint8`` frames ``[N, H, W, 3]`` through ``loaded``."""
    out = [
        loaded.run({contract.FRAMES_INPUT: frames[i : i + batch_size]})[contract.FAKE_PROBABILITY]
        for i in range(0, len(frames), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros([0], np.float32)


def solid_clip(path: Path, level: int, frames: int = 4, size: int = 32) -> Path:
    """An H.264 clip of flat grey frames at brightness ``level`` with a little noise."""
    rng = np.random.default_rng(level)
    images = [
        np.clip(level + rng.normal(0, 2, (size, size, 3)), 0, 255).astype(np.uint8)
        for _ in range(frames)
    ]
    return encode_clip(images, path, fps=4, crf=18)


def face_clip(path: Path, frames: int = 4, shift: int = 0) -> Path:
    """An H.264 clip of the astronaut's face and shoulders, panning by ``shift`` px a frame."""
    import skimage.data

    photo = skimage.data.astronaut()
    images = [photo[20 + i * shift : 276 + i * shift, 110:366] for i in range(frames)]
    return encode_clip(images, path, fps=4, crf=20)


def untrained_sequence_result(
    size: tuple[int, int], length: int = 5, sequence_threshold: float = 0.55
):  # type: ignore[no-untyped-def]
    """An untrained CNN+GRU as training would return it (frame threshold 0.4)."""
    from model_export import roc
    from model_export.sequence import SequenceResult, build_cnn_gru

    net = build_cnn_gru(size, width=4, dropout=0.2, seed=3)
    dummy = roc.binary_metrics(np.array([0, 1]), np.array([0.2, 0.8]), 0.5)
    return SequenceResult(
        model=net.face_model,
        threshold=0.4,
        frame_metrics=dummy,
        video_metrics=dummy,
        sequence_model=net.sequence_model,
        sequence_length=length,
        sequence_threshold=sequence_threshold,
        sequence_video_metrics=dummy,
    )
