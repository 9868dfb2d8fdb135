"""Synthetic talking clips with sound, for the audio-visual member's plumbing.

A clip is a grey "face" whose mouth (a dark bar near its bottom) opens with a loudness
envelope. In REAL clips the audio (a 220 Hz tone shaped by that envelope) follows the mouth;
in FAKE ones it follows another envelope, so a tiny model has something to learn. The
clips are arrays (frames and the contract's waveform) and can be written to MP4 with AAC
(:func:`write_talking_clip`). Not a deepfake data set: only a check that audio goes through.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from contract.audio import AUDIO_SAMPLE_RATE, fit_waveform


@dataclass(frozen=True)
class TalkingClip:
    """One synthetic clip: frames uint8 [T, S, S, 3], waveform float32 [samples], label."""

    frames: np.ndarray
    waveform: np.ndarray
    label: int
    fps: int


def _envelope(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """A smooth loudness curve in [0, 1]: a few slow sines with random phases."""
    curve = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in (0.9, 1.7, 2.6))
    return (curve - curve.min()) / (np.ptp(curve) + 1e-6)


def talking_clip(
    seed: int, *, fake: bool, seconds: float = 1.0, fps: int = 8, side: int = 32
) -> TalkingClip:
    """A real (mouth follows audio) or fake (it does not) clip, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    count = int(seconds * fps)
    frame_t = np.arange(count) / fps
    audio_t = np.arange(int(seconds * AUDIO_SAMPLE_RATE)) / AUDIO_SAMPLE_RATE
    seen = np.random.default_rng(seed + 1_000_003) if fake else np.random.default_rng(seed)
    heard = np.random.default_rng(seed)
    mouth = _envelope(seen, frame_t)
    loud = _envelope(heard, audio_t)
    wave = 0.6 * loud * np.sin(2 * np.pi * 220.0 * audio_t)
    frames = np.full((count, side, side, 3), 170, np.uint8)
    frames += rng.integers(0, 12, frames.shape, dtype=np.uint8)
    for i, opening in enumerate(mouth):
        rows = max(1, int(opening * side / 4 + 0.5))
        top = side * 5 // 8
        frames[i, top : top + rows, side // 4 : 3 * side // 4] = 40
    return TalkingClip(frames, fit_waveform(wave, wave.size), int(fake), fps)


def talking_clips(count: int, **kwargs: object) -> list[TalkingClip]:
    """``count`` clips, half real and half fake, alternating."""
    return [talking_clip(i, fake=bool(i % 2), **kwargs) for i in range(count)]  # type: ignore[arg-type]


def write_talking_clip(path: Path, clip: TalkingClip) -> Path:
    """Write ``clip`` to ``path`` as H.264 video with an AAC mono audio track."""
    side = clip.frames.shape[1]
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=clip.fps)
        video.width = video.height = side
        video.pix_fmt = "yuv420p"
        sound = out.add_stream("aac", rate=AUDIO_SAMPLE_RATE)
        sound.layout = "mono"
        for image in clip.frames:
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(video.encode())
        step = sound.codec_context.frame_size or 1024
        for start in range(0, clip.waveform.size, step):
            part = clip.waveform[None, start : start + step].astype(np.float32)
            frame = av.AudioFrame.from_ndarray(part, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = AUDIO_SAMPLE_RATE, start
            frame.time_base = Fraction(1, AUDIO_SAMPLE_RATE)
            out.mux(sound.encode(frame))
        out.mux(sound.encode())
    return path
