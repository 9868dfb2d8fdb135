"""A CNN+GRU version trained here: the gateway scores face tracks with its sequence head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import contract
from contract.face_schedule import Faces, keyframes, padded, schedule
from gateway.pipeline.keyframes import downscale
from gateway.pipeline.probe import VideoLimits, probe
from gateway.pipeline.video import iter_frames, sample_times_of
from gateway.settings import DEFAULT_FACE_DETECT_EVERY, DEFAULT_FACE_DETECT_SIDE
from model_export.publish import INFO_RELATIVE_PATH
from model_export.savedmodel import load_version
from tests.conftest import MODEL_NAME, start_serving
from tests.e2e.conftest import train_tiny_face_model
from tests.videos import write_clip

pytestmark = pytest.mark.slow

LENGTH = 3
FRAMES = 6


@pytest.fixture(scope="module")
def sequence_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train a tiny face-aware CNN+GRU on generated clips and publish version 1."""
    return train_tiny_face_model(
        tmp_path_factory.mktemp("sequence-model"),
        *("--arch", "cnn_gru", "--frames", "4", "--sequence-length", str(LENGTH)),
    )


@pytest.fixture(scope="module")
def sequence_serving(sequence_model: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    handle = start_serving(sequence_model, tmp_path_factory.mktemp("logs") / "serving.log")
    yield handle
    handle.process.stop()


def expected_track_score(version: Path, clip: Path) -> float:
    """The one face track's score, computed in process from the pieces the gateway uses.

    The gateway's own decoder gives the frames (at the gateway's default size, since a
    face-aware version asks for none), faces are found on the keyframes of the gateway's
    default schedule and followed between them, the version's ``classify_boxes`` gives the
    crops, and the sequence head scores the windows the contract defines.
    """
    info = probe(clip, VideoLimits(max_duration_s=60, max_frames=10_000, max_pixels=10**7))
    frames = [f.image for f in iter_frames(clip, info, sample_times_of(info, FRAMES), max_side=640)]
    every, side = DEFAULT_FACE_DETECT_EVERY, DEFAULT_FACE_DETECT_SIDE
    keys = keyframes(len(frames), every)
    with load_version(version) as loaded:
        found = loaded.run(
            {contract.FRAMES_INPUT: np.stack([downscale(frames[i], side) for i in keys])},
            contract.DETECT_SIGNATURE,
        )
        slots = found[contract.FACE_BOXES].shape[1]
        detections = {
            k: Faces.of(
                found[contract.FACE_BOXES][row],
                found[contract.FACE_SCORES][row],
                found[contract.FACE_COUNT][row],
            )
            for row, k in enumerate(keys)
        }
        boxes, scores, count = padded(schedule(len(frames), every, detections), slots)
        out = loaded.run(
            {
                contract.FRAMES_INPUT: np.stack(frames),
                contract.FACE_BOXES: boxes,
                contract.FACE_SCORES: scores,
                contract.FACE_COUNT: count,
            },
            contract.CLASSIFY_BOXES_SIGNATURE,
        )
        assert out[contract.FACE_COUNT].tolist() == [1] * FRAMES
        crops = out[contract.FACE_CROPS][:, 0]
        windows = contract.sequence_windows(len(crops), LENGTH)
        seq = loaded.run(
            {contract.FACES_INPUT: np.stack([crops[w] for w in windows])},
            contract.SEQUENCE_SIGNATURE,
        )
    return float(np.mean(seq[contract.FAKE_PROBABILITY]))


def test_tracks_are_scored_by_the_sequence_head(
    sequence_model, sequence_serving, gateway_factory, tmp_path
) -> None:
    info = json.loads((sequence_model / "1" / INFO_RELATIVE_PATH).read_text())
    gateway = gateway_factory(sequence_serving.target)
    clip = write_clip(tmp_path / "one.mp4", frames=12, faces=1, width=320, height=240, seed=3)
    response = gateway.detect(clip, params={"frames": FRAMES})
    assert response.status_code == 200, response.text
    body = response.json()

    # By default a version with a sequence head decides with it, at its own threshold.
    assert body["aggregation"] == "sequence"
    assert body["threshold"] == pytest.approx(info["sequence"]["threshold"], abs=1e-4)
    (track,) = body["tracks"]
    assert track["frames"] == list(range(FRAMES))
    expected = expected_track_score(sequence_model / "1", clip)
    assert track["score"] == pytest.approx(expected, abs=2e-4)
    assert body["score"] == pytest.approx(track["score"], abs=1e-4)
    assert body["verdict"] == ("fake" if body["score"] >= body["threshold"] else "real")
    assert body["timings_ms"]["sequence"] > 0

    # A per-face aggregation is still there on request, with the frame threshold.
    response = gateway.detect(clip, params={"frames": FRAMES, "aggregation": "mean"})
    assert response.status_code == 200, response.text
    by_faces = response.json()
    assert by_faces["aggregation"] == "mean"
    assert by_faces["timings_ms"]["sequence"] is None
    assert by_faces["threshold"] == pytest.approx(info["threshold"], abs=1e-4)
    face_scores = [p["faces"][0]["score"] for p in by_faces["timeline"]]
    assert by_faces["tracks"][0]["score"] == pytest.approx(np.mean(face_scores), abs=1e-3)


def test_a_whole_frame_sequence_version_reads_the_frames(
    tmp_path_factory, gateway_factory, tmp_path
) -> None:
    """Without faces, the sequence head reads the sampled frames, sent at its size."""
    from model_export.sequence_export import publish_sequence_version
    from tests.model_export.helpers import untrained_sequence_result

    size = (32, 32)
    result = untrained_sequence_result(size, length=4, sequence_threshold=0.55)
    base = tmp_path_factory.mktemp("whole-frame-sequence")
    version = publish_sequence_version(result, base, MODEL_NAME, input_size=size, faces=None)
    serving = start_serving(base / MODEL_NAME, base / "serving.log")
    try:
        gateway = gateway_factory(serving.target)
        clip = write_clip(tmp_path / "clip.mp4", frames=12, width=320, height=240, seed=5)
        response = gateway.detect(clip, params={"frames": FRAMES})
    finally:
        serving.process.stop()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["aggregation"] == "sequence"
    assert body["threshold"] == pytest.approx(0.55, abs=1e-4)

    # In process: the gateway's frames at the version's size (shorter side 32), in windows.
    info = probe(clip, VideoLimits(max_duration_s=60, max_frames=10_000, max_pixels=10**7))
    times = sample_times_of(info, FRAMES)
    frames = np.stack([f.image for f in iter_frames(clip, info, times, max_side=640, min_side=32)])
    assert frames.shape[1:3] == (32, 44)
    windows = contract.sequence_windows(FRAMES, 4)
    with load_version(version) as loaded:
        seq = loaded.run(
            {contract.FACES_INPUT: np.stack([frames[w] for w in windows])},
            contract.SEQUENCE_SIGNATURE,
        )
    (track,) = body["tracks"]
    assert track["score"] == pytest.approx(float(np.mean(seq[contract.FAKE_PROBABILITY])), abs=2e-4)
