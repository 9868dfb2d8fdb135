"""The tiny audio-visual member: trained on talking clips, exported, run in a TF1 session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import contract
from gateway.pipeline.audio import decode_audio
from model_export.av_demo_data import talking_clips, write_talking_clip
from model_export.av_member import clip_arrays, export_member, prepare_faces, train_member
from model_export.savedmodel import load_version


def test_talking_clips_carry_a_decodable_audio_track(tmp_path: Path) -> None:
    clip = talking_clips(1)[0]
    track = decode_audio(write_talking_clip(tmp_path / "talk.mp4", clip))
    assert track.present and track.seconds == pytest.approx(1.0, abs=0.1)


@pytest.mark.slow
def test_the_member_trains_exports_and_runs_in_a_tf1_session(tmp_path: Path) -> None:
    clips = talking_clips(16)
    model = train_member(clips, epochs=5)
    path = export_member(model, tmp_path / "1")
    waves, faces, _ = clip_arrays(clips[:4])
    big = np.repeat(np.repeat(faces, 2, axis=2), 2, axis=3)  # any face size is resized
    expected = model([tf.constant(waves), prepare_faces(tf.constant(big))]).numpy().reshape(-1)
    with load_version(path) as loaded:
        info = loaded.run(
            {contract.FRAMES_INPUT: np.zeros((1, 1, 1, 3), np.uint8)},
            contract.MODEL_INFO_SIGNATURE,
        )
        got = loaded.run(
            {contract.AUDIO_INPUT: waves, contract.FACES_INPUT: big}, contract.AUDIO_SIGNATURE
        )
    assert int(info[contract.AUDIO_SAMPLE_RATE_OUTPUT][0]) == contract.AUDIO_SAMPLE_RATE
    scores = got[contract.FAKE_PROBABILITY]
    assert scores.shape == (4,) and ((scores >= 0) & (scores <= 1)).all()
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-6)
