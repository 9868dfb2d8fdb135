"""The one decode of an audio stream to the contract's samples, for training and serving.

:func:`decode_audio_samples` reads a stream from its start with PyAV, resamples it
(``av.AudioResampler``) to :data:`contract.audio.AUDIO_SAMPLE_RATE` mono float32 and keeps at
most :data:`contract.audio.AUDIO_MAX_SAMPLES` of them in one preallocated buffer, so what a
stream claims never grows it. ``model_export`` (the waveforms members are trained and fitted
on) and the gateway (an upload's audio) both call it and then
:func:`contract.audio.fit_waveform`, so a member hears the same samples in both.

What a decode may cost is the caller's to bound: it passes a :class:`DecodeBudget`, told of
every packet and every decoded frame, which raises to stop the decode.

Needs PyAV and numpy only.
"""

from __future__ import annotations

from typing import Protocol

import av
import numpy as np

from . import sampling
from .audio import AUDIO_MAX_SAMPLES, AUDIO_MAX_SECONDS, AUDIO_SAMPLE_RATE


class DecodeBudget(Protocol):
    """What a decode reports to its caller, who raises to stop it."""

    def add_packet(self, size: int) -> None:
        """One more packet of ``size`` compressed bytes was read."""

    def check(self) -> None:
        """A frame was decoded (time passed)."""


class Unbounded:
    """A budget that never stops a decode: for trusted files (labelled training clips)."""

    def add_packet(self, size: int) -> None:
        """Spend nothing."""

    def check(self) -> None:
        """Spend nothing."""


def decode_audio_samples(
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    budget: DecodeBudget | None = None,
) -> np.ndarray:
    """Mono float32 samples at the contract rate from ``stream``'s start, at most the cap.

    ValueError when the stream has no codec; FFmpeg's errors pass through.
    """
    budget = budget or Unbounded()
    if stream.codec_context is None or stream.codec_context.name is None:
        raise ValueError("the audio stream has no codec")
    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_SAMPLE_RATE)
    buffer = np.zeros(AUDIO_MAX_SAMPLES, dtype=np.float32)
    kept = 0
    with sampling.demuxed(container, stream) as packets:
        for packet in packets:
            budget.add_packet(packet.size)
            if _past_cap(packet, stream):
                break
            for frame in packet.decode():
                kept = _keep(resampler.resample(frame), buffer, kept)
                budget.check()
            if kept >= AUDIO_MAX_SAMPLES:
                break
    if kept < AUDIO_MAX_SAMPLES:
        kept = _keep(resampler.resample(None), buffer, kept)
    return buffer[:kept]


def _past_cap(packet: av.Packet, stream: av.audio.stream.AudioStream) -> bool:
    """Whether ``packet`` starts after the audio the contract keeps (less one second of
    slack: resampling delays samples a little)."""
    if packet.pts is None or packet.time_base is None:
        return False
    start = stream.start_time or 0
    return float((packet.pts - start) * packet.time_base) > AUDIO_MAX_SECONDS + 1.0


def _keep(frames: list[av.AudioFrame], buffer: np.ndarray, kept: int) -> int:
    """Copy resampled ``frames`` into ``buffer`` from ``kept`` on, up to its end."""
    for frame in frames:
        if kept >= buffer.size:
            break
        chunk = frame.to_ndarray().reshape(-1)
        n = min(chunk.size, buffer.size - kept)
        buffer[kept : kept + n] = chunk[:n]
        kept += n
    return kept


__all__ = ["DecodeBudget", "Unbounded", "decode_audio_samples"]
