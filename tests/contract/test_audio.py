"""The one cut/pad rule of the audio track, and which faces go with it."""

from __future__ import annotations

import numpy as np
import pytest

import contract
from contract.audio import audio_face_indices, fit_waveform, waveform_seconds


def test_names_are_exported_from_the_contract() -> None:
    assert contract.AUDIO_SIGNATURE == "classify_audio"
    assert contract.AUDIO_SAMPLE_RATE == 16_000
    assert int(16_000 * contract.AUDIO_MAX_SECONDS) == contract.AUDIO_MAX_SAMPLES


def test_short_audio_is_padded_with_silence_at_the_end() -> None:
    wave = fit_waveform(np.full(10, 0.5, dtype=np.float64), max_samples=16)
    assert wave.dtype == np.float32
    assert wave.shape == (16,)
    np.testing.assert_array_equal(wave[:10], 0.5)
    np.testing.assert_array_equal(wave[10:], 0.0)


def test_long_audio_keeps_its_start() -> None:
    wave = fit_waveform(np.arange(100, dtype=np.float32) / 100, max_samples=30)
    np.testing.assert_allclose(wave, np.arange(30) / 100, rtol=1e-6)


def test_default_length_is_the_cap() -> None:
    assert fit_waveform(np.zeros(5)).shape == (contract.AUDIO_MAX_SAMPLES,)
    assert fit_waveform(np.zeros(0)).shape == (contract.AUDIO_MAX_SAMPLES,)


def test_values_are_clipped_and_non_finite_ones_silenced() -> None:
    wave = fit_waveform(np.array([2.0, -3.0, np.nan, np.inf, 0.25]), max_samples=5)
    np.testing.assert_array_equal(wave, np.array([1.0, -1.0, 0.0, 0.0, 0.25], np.float32))


def test_channels_are_averaged_to_mono() -> None:
    stereo = np.stack([np.full(4, 0.2), np.full(4, 0.6)])
    np.testing.assert_allclose(fit_waveform(stereo, max_samples=4), 0.4, rtol=1e-6)


def test_other_shapes_are_refused() -> None:
    with pytest.raises(ValueError):
        fit_waveform(np.zeros((1, 2, 3)))
    with pytest.raises(ValueError):
        fit_waveform(np.zeros(3), max_samples=0)


def test_seconds_are_bounded_by_the_cap() -> None:
    assert waveform_seconds(8_000) == 0.5
    assert waveform_seconds(10**9) == contract.AUDIO_MAX_SECONDS
    assert waveform_seconds(-1) == 0.0


def test_faces_inside_the_window_are_spread_evenly() -> None:
    times = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 9.0, 12.0]
    picked = audio_face_indices(times, count=4)
    assert picked == [0, 2, 4, 7]
    assert all(times[i] < contract.AUDIO_MAX_SECONDS for i in picked)


def test_few_faces_repeat_and_none_inside_gives_nothing() -> None:
    assert audio_face_indices([0.5], count=3) == [0, 0, 0]
    assert audio_face_indices([0.0, 1.0], count=4) == [0, 0, 0, 1]
    assert audio_face_indices([9.0, 10.0]) == []
    with pytest.raises(ValueError):
        audio_face_indices([0.0], count=0)
