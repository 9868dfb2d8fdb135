"""CNN+GRU over face sequences: windows, export through the TF1 session, training end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import contract
from model_export.cli import main
from model_export.preprocess import preprocess_frames
from model_export.publish import INFO_RELATIVE_PATH
from model_export.savedmodel import load_version
from model_export.sequence import SEQUENCE_SIGNATURE, preprocess_sequences, sequences_of
from model_export.sequence_export import publish_sequence_version
from model_export.train import FrameSet

from .helpers import face_clip, solid_clip, untrained_sequence_result

SIZE = (32, 32)


def _numbered_frames(counts: list[int]) -> FrameSet:
    """Crops whose pixel value is their position in the video; clip ``i`` has label ``i % 2``."""
    frames, ids = [], []
    for clip, n in enumerate(counts):
        frames += [np.full((4, 4, 3), k, np.uint8) for k in range(n)]
        ids += [clip] * n
    labels = np.array([i % 2 for i in ids], np.float32)
    return FrameSet(np.stack(frames), labels, np.array(ids), {i: i % 2 for i in range(len(counts))})


def test_sequences_are_time_ordered_windows_of_one_video() -> None:
    data = sequences_of(_numbered_frames([7, 2]), length=4)
    order = data.faces[:, :, 0, 0, 0].tolist()
    # Half-overlapping windows, the last one ending on the last crop; a short video repeats
    # its last crop.
    assert order == [[0, 1, 2, 3], [2, 3, 4, 5], [3, 4, 5, 6], [0, 1, 1, 1]]
    assert data.clip_ids.tolist() == [0, 0, 0, 1]
    assert data.labels.tolist() == [0.0, 0.0, 0.0, 1.0]


def test_sequence_export_runs_in_a_tf1_session(tmp_path: Path) -> None:
    result = untrained_sequence_result(SIZE)
    path = publish_sequence_version(result, tmp_path, "seq", input_size=SIZE, faces=None)
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, size=(3, 5, 40, 40, 3), dtype=np.uint8)
    frames = rng.integers(0, 256, size=(4, 48, 64, 3), dtype=np.uint8)
    expected_seq = result.sequence_model(preprocess_sequences(tf.constant(faces), SIZE))
    expected_frames = result.model(preprocess_frames(tf.constant(frames), SIZE))

    with load_version(path) as loaded:
        # frame batches 1, 8, 32; model_info; sequence batches 1, 4
        assert loaded.replay_warmup() == 4 + 2
        seq = loaded.run({contract.FACES_INPUT: faces}, SEQUENCE_SIGNATURE)
        reversed_seq = loaded.run({contract.FACES_INPUT: faces[:, ::-1]}, SEQUENCE_SIGNATURE)
        longer = loaded.run({contract.FACES_INPUT: np.tile(faces, (1, 2, 1, 1, 1))},
                            SEQUENCE_SIGNATURE)  # fmt: skip
        empty = loaded.run({contract.FACES_INPUT: faces[:0]}, SEQUENCE_SIGNATURE)
        no_faces = loaded.run({contract.FACES_INPUT: faces[:, :0]}, SEQUENCE_SIGNATURE)
        together = loaded.run({contract.FRAMES_INPUT: frames})
        alone = [loaded.run({contract.FRAMES_INPUT: frames[i : i + 1]}) for i in range(4)]

    np.testing.assert_allclose(
        seq[contract.FAKE_PROBABILITY], np.ravel(expected_seq["sequence"]), atol=1e-5
    )
    np.testing.assert_allclose(seq[contract.THRESHOLD], [0.55] * 3, atol=1e-6)
    # A GRU reads order: the same faces backwards score differently.
    assert not np.allclose(seq[contract.FAKE_PROBABILITY], reversed_seq[contract.FAKE_PROBABILITY])
    assert longer[contract.FAKE_PROBABILITY].shape == (3,)  # any sequence length
    assert empty[contract.FAKE_PROBABILITY].shape == (0,)
    assert no_faces[contract.FAKE_PROBABILITY].tolist() == [0.5, 0.5, 0.5]
    # serving_default is the CNN branch, one row per frame whatever else is in the batch.
    np.testing.assert_allclose(
        together[contract.FAKE_PROBABILITY], np.ravel(expected_frames), atol=1e-5
    )
    np.testing.assert_allclose(
        together[contract.FAKE_PROBABILITY],
        np.concatenate([a[contract.FAKE_PROBABILITY] for a in alone]),
        atol=1e-6,
    )
    np.testing.assert_allclose(together[contract.THRESHOLD], [0.4] * 4, atol=1e-6)
    info = json.loads((path / INFO_RELATIVE_PATH).read_text())
    assert info["sequence"]["signature"] == SEQUENCE_SIGNATURE
    assert info["sequence"]["length"] == 5 and not info["face_aware"]


@pytest.mark.slow
def test_train_cnn_gru_publishes_face_aware_version(tmp_path: Path) -> None:
    for i in range(4):
        face_clip(tmp_path / f"data/real/v{i}.mp4", frames=4, shift=i)
        solid_clip(tmp_path / f"data/fake/w{i}.mp4", 60 * i + 20, frames=4, size=64)
    output = tmp_path / "models" / "deepfake"
    code = main([
        "train", "--data", str(tmp_path / "data"), "--output", str(output), "--arch", "cnn_gru",
        "--epochs", "1", "--input-size", "32", "--frames", "4", "--sequence-length", "3",
        "--augment", "--cache-dir", str(tmp_path / "cache"), "--val-fraction", "0.25",
        "--test-fraction", "0.25",
    ])  # fmt: skip
    assert code == 0
    info = json.loads((output / "1" / INFO_RELATIVE_PATH).read_text())
    assert info["arch"] == "cnn_gru" and info["face_aware"]
    assert info["sequence"]["signature"] == SEQUENCE_SIGNATURE and info["sequence"]["length"] == 3
    assert info["sequence"]["validation"]["video"]["count"] == 2
    assert info["test"]["sequence_video"]["count"] == 2

    photo = np.stack([_astronaut()] * 2)
    faces = np.random.default_rng(1).integers(0, 256, size=(2, 3, 32, 32, 3), dtype=np.uint8)
    with load_version(output / "1") as loaded:
        assert loaded.replay_warmup() == 7 + 2  # frames 1, 8, 32; crops; model_info; detect_faces;
        # classify_boxes; sequences 1, 4
        seq = loaded.run({contract.FACES_INPUT: faces}, SEQUENCE_SIGNATURE)
        frames = loaded.run({contract.FRAMES_INPUT: photo})
        crops = loaded.run({contract.FACES_INPUT: faces[0]}, contract.FACES_SIGNATURE)
        threshold = loaded.threshold()
        described = loaded.run(
            {contract.FRAMES_INPUT: np.zeros([1, 1, 1, 3], np.uint8)}, contract.MODEL_INFO_SIGNATURE
        )
        # The crops serving_default hands out are the crops its classifier scored.
        own = frames[contract.FACE_CROPS][:, 0]
        rescored = loaded.run({contract.FACES_INPUT: own}, contract.FACES_SIGNATURE)
    assert described[contract.SEQUENCE_LENGTH].tolist() == [3]
    assert frames[contract.FACE_CROPS].shape == (2, 4, 32, 32, 3)
    assert frames[contract.FACE_CROPS].dtype == np.uint8
    assert not frames[contract.FACE_CROPS][:, 1:].any()  # padding slots are black
    np.testing.assert_allclose(
        rescored[contract.FAKE_PROBABILITY], frames[contract.FACE_FAKE_PROBABILITY][:, 0], atol=1e-5
    )
    assert seq[contract.FAKE_PROBABILITY].shape == (2,)
    assert np.all((seq[contract.FAKE_PROBABILITY] >= 0) & (seq[contract.FAKE_PROBABILITY] <= 1))
    assert abs(float(seq[contract.THRESHOLD][0]) - info["sequence"]["threshold"]) < 1e-6
    assert abs(threshold - info["threshold"]) < 1e-6
    assert frames[contract.FACE_COUNT].tolist() == [1, 1]
    assert frames[contract.FACE_BOXES].shape == (2, 4, 4)
    assert frames[contract.FACE_FAKE_PROBABILITY].shape == (2, 4)
    # The frame score is the CNN branch's score of its one face.
    np.testing.assert_allclose(
        frames[contract.FAKE_PROBABILITY], frames[contract.FACE_FAKE_PROBABILITY][:, 0], atol=1e-6
    )
    assert crops[contract.FAKE_PROBABILITY].shape == (3,)


def _astronaut() -> np.ndarray:
    """The first frame of :func:`face_clip`, before encoding."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[20:276, 110:366])
