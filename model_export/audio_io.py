"""A labelled clip's audio as the contract's waveform, by the decode the gateway runs.

:func:`read_waveform` opens the clip with PyAV and decodes its first audio stream with
:func:`contract.audio_decode.decode_audio_samples` (labelled clips are trusted: no budget), then
:func:`contract.audio.fit_waveform`, so a member is trained and fitted on what it hears
behind the gateway.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np

from contract.audio import fit_waveform
from contract.audio_decode import decode_audio_samples

log = logging.getLogger(__name__)


def read_waveform(path: Path) -> np.ndarray | None:
    """The clip's waveform, float32 [AUDIO_MAX_SAMPLES]; None without a decodable stream."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        try:
            samples = decode_audio_samples(container, container.streams.audio[0])
        except (av.error.FFmpegError, ValueError) as exc:
            log.warning("audio undecodable", extra={"path": str(path), "error": str(exc)})
            return None
    return fit_waveform(samples) if samples.size else None
