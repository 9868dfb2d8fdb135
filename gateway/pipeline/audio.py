"""Audio stage's decoder: an upload's first audio stream as the contract's one waveform.

The first audio stream is decoded by :func:`contract.audio_decode.decode_audio_samples`, the decode
training uses too (resampled to :data:`contract.audio.AUDIO_SAMPLE_RATE`, mono float32, for at
most :data:`contract.audio.AUDIO_MAX_SECONDS` seconds), then cut or padded by
:func:`contract.audio.fit_waveform`, the rule training follows.

What decoding may cost is bounded like the video's (:mod:`gateway.pipeline.budget`): the
samples kept never pass the cap (the buffer is at most
:data:`contract.audio.AUDIO_MAX_SAMPLES` floats), and compressed bytes, packets, CPU and
wall-clock seconds are counted at every packet (:class:`AudioLimits`). A spent budget is
:class:`~gateway.errors.VideoLimitExceeded`; a stream FFmpeg cannot decode, or none at all,
is an absent track (:attr:`AudioTrack.present` false), so the visual verdict still answers.
The file is opened by :func:`gateway.pipeline.probe.open_video`, with the same format and
protocol whitelist as the video.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from contract import sampling
from contract.audio import AUDIO_SAMPLE_RATE, fit_waveform
from contract.audio_decode import decode_audio_samples

from ..errors import VideoLimitExceeded
from .probe import open_video

log = logging.getLogger(__name__)

#: Why a track is absent, as the log and :attr:`AudioTrack.absent_reason` say it.
NO_STREAM = "no_audio_stream"
UNDECODABLE = "undecodable"


@dataclass(frozen=True)
class AudioLimits:
    """What decoding one upload's audio may cost."""

    #: Compressed bytes read from the audio stream (8 s of any sane codec is far less).
    max_bytes: int = 4 * 1024 * 1024
    #: Packets read, however small (a stream of empty packets must end too).
    max_packets: int = 20_000
    #: CPU seconds of the decoding thread (``time.thread_time``).
    cpu_s: float = 2.0
    #: Wall-clock seconds from the start of decoding.
    timeout_s: float = 5.0


@dataclass(frozen=True)
class AudioTrack:
    """An upload's audio as the contract wants it, or why there is none."""

    present: bool
    #: float32 [AUDIO_MAX_SAMPLES] (:func:`contract.audio.fit_waveform`); None when absent.
    waveform: np.ndarray | None = None
    #: Seconds of real audio in :attr:`waveform` (the rest is padding), within the cap.
    seconds: float = 0.0
    #: The rate of :attr:`waveform`; None when absent.
    sample_rate: int | None = None
    #: :data:`NO_STREAM` or :data:`UNDECODABLE` when absent.
    absent_reason: str | None = None


ABSENT = AudioTrack(present=False, absent_reason=NO_STREAM)


class _Budget:
    """The part of :class:`AudioLimits` one decode has spent, as the decode's
    :class:`~contract.audio_decode.DecodeBudget`; on the decoding thread only."""

    def __init__(self, limits: AudioLimits) -> None:
        self.limits = limits
        self.bytes = 0
        self.packets = 0
        self._cpu_start = time.thread_time()
        self._deadline = time.monotonic() + limits.timeout_s

    def add_packet(self, size: int) -> None:
        self.bytes += size
        self.packets += 1
        if self.bytes > self.limits.max_bytes:
            raise VideoLimitExceeded(
                f"the audio stream needed more than {self.limits.max_bytes} bytes"
            )
        if self.packets > self.limits.max_packets:
            raise VideoLimitExceeded(
                f"the audio stream needed more than {self.limits.max_packets} packets"
            )
        self.check()

    def check(self) -> None:
        if time.thread_time() - self._cpu_start > self.limits.cpu_s:
            raise VideoLimitExceeded(
                f"decoding the audio needed more than {self.limits.cpu_s:g} CPU seconds"
            )
        if time.monotonic() > self._deadline:
            raise VideoLimitExceeded(
                f"decoding the audio took longer than {self.limits.timeout_s:g} s"
            )


def decode_audio(path: Path, limits: AudioLimits | None = None) -> AudioTrack:
    """The first audio stream of the video at ``path``, resampled and fitted to the contract.

    Blocking: call it on a thread. :class:`AudioTrack` with ``present`` false when the file
    has no audio stream or it cannot be decoded; :class:`VideoLimitExceeded` when decoding
    it costs more than ``limits``; :class:`InvalidVideo` when the file is no allowed video.
    """
    limits = limits or AudioLimits()
    container = open_video(path)
    try:
        if not container.streams.audio:
            return ABSENT
        stream = container.streams.audio[0]
        try:
            samples = decode_audio_samples(container, stream, _Budget(limits))
        except (av.error.FFmpegError, ValueError) as exc:
            # FFmpeg's text names the server's path: the log has it, the answer says absent.
            log.info("audio undecodable", extra={"error": str(exc)})
            return AudioTrack(present=False, absent_reason=UNDECODABLE)
    finally:
        container.close()
    if samples.size == 0:
        return AudioTrack(present=False, absent_reason=UNDECODABLE)
    return AudioTrack(
        present=True,
        waveform=fit_waveform(samples),
        seconds=round(samples.size / AUDIO_SAMPLE_RATE, sampling.TIME_DIGITS),
        sample_rate=AUDIO_SAMPLE_RATE,
    )


__all__ = [
    "ABSENT",
    "NO_STREAM",
    "UNDECODABLE",
    "AudioLimits",
    "AudioTrack",
    "decode_audio",
]
