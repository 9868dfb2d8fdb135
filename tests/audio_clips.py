"""Encode real test clips with an audio track with PyAV (H.264 video, AAC or PCM audio)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.videos import frame_pattern


def tone(seconds: float, rate: int, channels: int = 2, hz: float = 440.0) -> np.ndarray:
    """A sine tone, float32 [channels, samples] in [-0.5, 0.5]."""
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.repeat(wave[None, :], channels, axis=0)


def write_av_clip(
    path: Path,
    *,
    seconds: float = 1.0,
    fps: int = 10,
    width: int = 64,
    height: int = 48,
    audio: np.ndarray | None = None,
    audio_codec: str = "aac",
    audio_rate: int = 44_100,
    frames: list[np.ndarray] | None = None,
) -> Path:
    """Write ``frames`` (default: :func:`frame_pattern`) and ``audio`` (float32
    [channels, samples] in [-1, 1]; None: no audio stream) into ``path``."""
    count = len(frames) if frames is not None else int(seconds * fps)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "23"}
        sound = None
        if audio is not None:
            sound = out.add_stream(audio_codec, rate=audio_rate)
            sound.layout = "stereo" if audio.shape[0] == 2 else "mono"
        for i in range(count):
            image = frames[i] if frames is not None else frame_pattern(i, width, height)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            _encode_audio(out, sound, audio, audio_rate)
    return path


def _encode_audio(
    out: av.container.OutputContainer, sound: av.AudioStream, audio: np.ndarray, rate: int
) -> None:
    fmt = sound.codec_context.format.name
    layout = sound.layout.name
    chunk = sound.codec_context.frame_size or 1024
    for start in range(0, audio.shape[1], chunk):
        part = np.ascontiguousarray(audio[:, start : start + chunk])
        frame = av.AudioFrame.from_ndarray(_as_format(part, fmt), format=fmt, layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        out.mux(sound.encode(frame))
    out.mux(sound.encode())


def _as_format(part: np.ndarray, fmt: str) -> np.ndarray:
    """``part`` ([channels, n] float32) in the sample format ``fmt`` PyAV expects."""
    if fmt == "fltp":
        return part
    if fmt == "flt":
        return part.T.reshape(1, -1)
    if fmt == "s16":
        return (np.clip(part, -1, 1) * 32767).astype(np.int16).T.reshape(1, -1)
    if fmt == "s16p":
        return (np.clip(part, -1, 1) * 32767).astype(np.int16)
    raise ValueError(f"no conversion to {fmt}")


def write_garbage_audio_clip(path: Path, *, packets: int = 50, seed: int = 0) -> Path:
    """A Matroska clip with a valid video stream and an AAC audio stream whose packets are
    random bytes: a broken (or hostile) audio track."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream("aac", rate=44_100)
        sound.layout = "stereo"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(frame_pattern(i, 64, 48), format="rgb24")
            out.mux(video.encode(frame))
        out.mux(video.encode())
        for i in range(packets):
            packet = av.Packet(rng.integers(0, 256, 400, dtype=np.uint8).tobytes())
            packet.stream = sound
            packet.pts = packet.dts = i * 1024
            packet.time_base = Fraction(1, 44_100)
            out.mux(packet)
    return path
