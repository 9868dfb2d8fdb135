"""Which versions are asked about audio, and how their answers and the audio block read."""

from __future__ import annotations

import numpy as np
import pytest

import contract
from gateway.errors import InferenceFailed
from gateway.pipeline.audio import AudioTrack
from gateway.pipeline.audio_member import (
    AudioScore,
    audio_summary,
    read_audio_score,
    takes_audio,
)
from gateway.upstream.description import read_description
from gateway.upstream.serving_types import Prediction


def _info(**extra: np.ndarray) -> Prediction:
    outputs = {
        contract.THRESHOLD: np.array([0.5], np.float32),
        contract.FRAME_MIN_SIDE: np.array([0], np.int32),
        **extra,
    }
    return Prediction(name="deepfake", version=3, outputs=outputs)


def test_model_info_says_whether_a_version_takes_audio() -> None:
    plain = read_description(_info())
    assert plain.audio_sample_rate == 0 and not takes_audio(plain)
    heard = read_description(
        _info(**{contract.AUDIO_SAMPLE_RATE_OUTPUT: np.array([16_000], np.int32)})
    )
    assert heard.audio_sample_rate == 16_000 and takes_audio(heard)
    other = read_description(
        _info(**{contract.AUDIO_SAMPLE_RATE_OUTPUT: np.array([22_050], np.int32)})
    )
    assert not takes_audio(other)  # another contract's rate is never fed
    assert not takes_audio(None)


def test_an_audio_answer_is_read_with_its_optional_offset() -> None:
    scores = {contract.FAKE_PROBABILITY: np.array([0.25], np.float32)}
    assert read_audio_score(Prediction("m", 1, scores)) == AudioScore(0.25, None)
    both = {**scores, contract.AUDIO_OFFSET: np.array([0.12], np.float32)}
    assert read_audio_score(Prediction("m", 1, both)).offset_s == pytest.approx(0.12)
    with pytest.raises(InferenceFailed):
        read_audio_score(Prediction("m", 1, {}))
    with pytest.raises(InferenceFailed):
        read_audio_score(Prediction("m", 1, {contract.FAKE_PROBABILITY: np.array([1.5])}))


def test_the_audio_block() -> None:
    assert audio_summary(None, None).present is False
    track = AudioTrack(
        present=True, waveform=np.zeros(4, np.float32), seconds=1.5, sample_rate=16_000
    )
    block = audio_summary(track, AudioScore(0.75, None))
    assert (block.present, block.sample_rate, block.seconds) == (True, 16_000, 1.5)
    assert (block.score, block.offset_s) == (0.75, None)
    assert audio_summary(track, None).score is None
