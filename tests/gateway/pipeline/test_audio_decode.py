"""The audio stage's decoder on real encoded clips: with, without and with a broken track."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contract.audio import AUDIO_MAX_SAMPLES, AUDIO_MAX_SECONDS, AUDIO_SAMPLE_RATE
from gateway.errors import InvalidVideo, VideoLimitExceeded
from gateway.pipeline.audio import NO_STREAM, UNDECODABLE, AudioLimits, decode_audio
from tests.audio_clips import tone, write_av_clip, write_garbage_audio_clip


@pytest.mark.parametrize(("codec", "suffix"), [("aac", "mp4"), ("pcm_s16le", "mkv")])
def test_audio_is_resampled_to_the_contract(tmp_path: Path, codec: str, suffix: str) -> None:
    clip = write_av_clip(tmp_path / f"clip.{suffix}", audio=tone(1.5, 44_100), audio_codec=codec)
    track = decode_audio(clip)
    assert track.present
    assert track.sample_rate == AUDIO_SAMPLE_RATE
    assert track.waveform is not None
    assert track.waveform.dtype == np.float32
    assert track.waveform.shape == (AUDIO_MAX_SAMPLES,)
    assert track.seconds == pytest.approx(1.5, abs=0.05)
    real = track.waveform[: int(1.4 * AUDIO_SAMPLE_RATE)]
    assert np.abs(real).max() > 0.3  # the tone is there
    np.testing.assert_array_equal(track.waveform[int(1.6 * AUDIO_SAMPLE_RATE) :], 0.0)
    # A 440 Hz tone stays a 440 Hz tone at the new rate.
    spectrum = np.abs(np.fft.rfft(real))
    peak_hz = np.argmax(spectrum) * AUDIO_SAMPLE_RATE / real.size
    assert peak_hz == pytest.approx(440, abs=5)


def test_a_video_without_audio_is_absent(tmp_path: Path) -> None:
    track = decode_audio(write_av_clip(tmp_path / "silent.mp4"))
    assert not track.present
    assert track.waveform is None and track.sample_rate is None
    assert track.absent_reason == NO_STREAM


def test_a_broken_audio_stream_is_absent(tmp_path: Path) -> None:
    track = decode_audio(write_garbage_audio_clip(tmp_path / "garbage.mkv"))
    assert not track.present
    assert track.absent_reason == UNDECODABLE


def test_long_audio_is_cut_at_the_cap(tmp_path: Path) -> None:
    clip = write_av_clip(tmp_path / "long.mkv", audio=tone(30.0, 44_100), audio_codec="pcm_s16le")
    track = decode_audio(clip)
    assert track.seconds == AUDIO_MAX_SECONDS
    assert track.waveform is not None and track.waveform.shape == (AUDIO_MAX_SAMPLES,)


def test_an_audio_stream_over_its_byte_budget_is_refused(tmp_path: Path) -> None:
    # 8 s of 44.1 kHz stereo PCM is 1.4 MB: more than a 64 kB budget allows.
    clip = write_av_clip(tmp_path / "pcm.mkv", audio=tone(10.0, 44_100), audio_codec="pcm_s16le")
    with pytest.raises(VideoLimitExceeded, match="bytes"):
        decode_audio(clip, AudioLimits(max_bytes=64 * 1024))


def test_many_packets_end_the_decode(tmp_path: Path) -> None:
    # 1024 samples a packet: 8 s at 44.1 kHz is about 345 packets.
    clip = write_av_clip(tmp_path / "many.mkv", audio=tone(10.0, 44_100), audio_codec="pcm_s16le")
    with pytest.raises(VideoLimitExceeded, match="packets"):
        decode_audio(clip, AudioLimits(max_packets=100))


def test_a_spent_clock_ends_the_decode(tmp_path: Path) -> None:
    clip = write_av_clip(tmp_path / "clip.mp4", audio=tone(1.0, 44_100))
    with pytest.raises(VideoLimitExceeded, match="longer than"):
        decode_audio(clip, AudioLimits(timeout_s=-1.0))


def test_a_file_that_is_no_video_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InvalidVideo):
        decode_audio(bogus)
