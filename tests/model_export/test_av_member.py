"""The tiny audio-visual member: trained on talking clips, exported, run in a TF1 session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import contract
from contract.audio import AUDIO_FACE_COUNT
from gateway.pipeline.audio import decode_audio
from model_export.audio_io import read_waveform
from model_export.av_demo_data import talking_clips, write_talking_clip
from model_export.av_member import FACE_SIDE, clip_arrays, export_member, member_faces, train_member
from model_export.savedmodel import load_version
from tests.videos import write_clip


def test_talking_clips_carry_a_decodable_audio_track(tmp_path: Path) -> None:
    clip = talking_clips(1)[0]
    path = write_talking_clip(tmp_path / "talk.mp4", clip)
    track = decode_audio(path)
    assert track.present and track.seconds == pytest.approx(1.0, abs=0.1)
    # Training reads the waveform the gateway decodes: the same samples, not a second decoder.
    heard = read_waveform(path)
    assert heard is not None and track.waveform is not None
    np.testing.assert_array_equal(heard, track.waveform)
    assert float(np.abs(heard).max()) > 0.1  # the tone, not silence


def test_a_clip_without_sound_has_no_waveform(tmp_path: Path) -> None:
    assert read_waveform(write_clip(tmp_path / "mute.mp4", frames=2)) is None


def test_member_faces_cut_the_box_with_its_margin() -> None:
    frames = np.zeros((1, AUDIO_FACE_COUNT, 40, 40, 3), np.uint8)
    frames[:, :, 10:30, 10:30] = 255  # a white square face
    boxes = np.tile(np.array([0.25, 0.25, 0.75, 0.75], np.float32), (1, AUDIO_FACE_COUNT, 1))
    faces = member_faces(tf.constant(frames), tf.constant(boxes)).numpy()
    assert faces.shape == (1, AUDIO_FACE_COUNT, FACE_SIDE, FACE_SIDE, 3)
    # The box fills the crop but for the margin on each side, which shows the black frame.
    assert faces[0, 0, FACE_SIDE // 2, FACE_SIDE // 2, 0] == pytest.approx(1.0)
    assert faces[0, 0, 0, 0, 0] == pytest.approx(0.0)


@pytest.mark.slow
def test_the_member_trains_exports_and_runs_in_a_tf1_session(tmp_path: Path) -> None:
    clips = talking_clips(16)
    model = train_member(clips, epochs=5)
    path = export_member(model, tmp_path / "1")
    waves, frames, boxes, _ = clip_arrays(clips[:4])
    big = np.repeat(np.repeat(frames, 2, axis=2), 2, axis=3)  # any frame size is cut the same
    faces = member_faces(tf.constant(big), tf.constant(boxes))
    expected = model([tf.constant(waves), faces]).numpy().reshape(-1)
    with load_version(path) as loaded:
        info = loaded.run(
            {contract.FRAMES_INPUT: np.zeros((1, 1, 1, 3), np.uint8)},
            contract.MODEL_INFO_SIGNATURE,
        )
        got = loaded.run(
            {contract.AUDIO_INPUT: waves, contract.FRAMES_INPUT: big, contract.FACE_BOXES: boxes},
            contract.AUDIO_SIGNATURE,
        )
    assert int(info[contract.AUDIO_SAMPLE_RATE_OUTPUT][0]) == contract.AUDIO_SAMPLE_RATE
    scores = got[contract.FAKE_PROBABILITY]
    assert scores.shape == (4,) and ((scores >= 0) & (scores <= 1)).all()
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-6)
