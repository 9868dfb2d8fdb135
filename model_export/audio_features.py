"""The audio features inside the exported graph: a log-mel spectrogram with ``tf.signal``.

An audio-visual member's graph takes the contract's waveform (``contract.audio``: float32
[B, S] at 16 kHz mono) and computes its features itself, as image models hold their
preprocessing, so training and serving compute them once and the same way. 25 ms frames
every 10 ms, a 512-point FFT, 40 mel bands from 60 Hz to 7.6 kHz, ``log(mel + 1e-6)``.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from contract.audio import AUDIO_SAMPLE_RATE

#: Samples per STFT frame (25 ms) and between frames (10 ms) at the contract rate.
FRAME_LENGTH = AUDIO_SAMPLE_RATE * 25 // 1000
FRAME_STEP = AUDIO_SAMPLE_RATE * 10 // 1000
FFT_LENGTH = 512
#: Mel bands and their range (below the Nyquist frequency of 8 kHz).
MEL_BINS = 40
LOWER_HZ = 60.0
UPPER_HZ = 7600.0
#: Added before the log, so that silence (the padding of a short clip) stays finite.
LOG_OFFSET = 1e-6


def frame_count(samples: int) -> int:
    """STFT frames :func:`log_mel` gives for ``samples`` samples (no end padding)."""
    return max(0, 1 + (samples - FRAME_LENGTH) // FRAME_STEP)


def log_mel(waveform: tf.Tensor) -> tf.Tensor:
    """float32 [B, S] waveforms to log-mel spectrograms, float32 [B, frames, MEL_BINS]."""
    stft = tf.signal.stft(
        tf.cast(waveform, tf.float32),
        frame_length=FRAME_LENGTH,
        frame_step=FRAME_STEP,
        fft_length=FFT_LENGTH,
    )
    power = tf.square(tf.abs(stft))
    weights = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=MEL_BINS,
        num_spectrogram_bins=FFT_LENGTH // 2 + 1,
        sample_rate=AUDIO_SAMPLE_RATE,
        lower_edge_hertz=LOWER_HZ,
        upper_edge_hertz=UPPER_HZ,
    )
    mel = tf.tensordot(power, weights, axes=1)
    return tf.math.log(mel + LOG_OFFSET)


@keras.saving.register_keras_serializable(package="model_export")
class LogMel(keras.layers.Layer):
    """:func:`log_mel` as a Keras layer, so a member's model holds its own features."""

    def call(self, waveform: tf.Tensor) -> tf.Tensor:
        """The log-mel spectrogram of ``waveform`` (float32 [B, S])."""
        return log_mel(waveform)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """[B, frames, MEL_BINS] for [B, S]."""
        samples = input_shape[-1]
        return (input_shape[0], frame_count(samples) if samples is not None else None, MEL_BINS)
