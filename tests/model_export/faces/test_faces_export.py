"""The detector exported with ExportArchive runs where TF Serving runs it: a TF1 session."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from model_export.faces import crop_faces, detect_faces

SIGNATURE = [tf.TensorSpec([None, None, None, 3], tf.uint8, name="frames")]
CROP = 32


def _export(path: Path, nets) -> None:
    archive = keras.export.ExportArchive()
    for model in nets:
        archive.track(model)

    @tf.function(input_signature=SIGNATURE)
    def serve(frames):
        boxes, scores, count = detect_faces(frames, max_faces=3)
        faces = crop_faces(frames, boxes, count, size=CROP, dtype=tf.uint8)
        return {"face_boxes": boxes, "face_scores": scores, "face_count": count, "faces": faces}

    archive.add_endpoint("serving_default", serve)
    archive.write_out(str(path), verbose=False)


@pytest.fixture(scope="module")
def session(tmp_path_factory, nets):
    """The export restored as TF Serving does: loader.load into a fresh graph and session."""
    path = tmp_path_factory.mktemp("faces-export") / "1"
    _export(path, nets)
    graph = tf.Graph()
    sess = tf.compat.v1.Session(graph=graph)
    # Only the loading makes the graph the default: the tests also run eagerly.
    with graph.as_default():
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(path))
    yield sess, meta.signature_def["serving_default"]
    sess.close()


def _run(session, frames: np.ndarray) -> dict[str, np.ndarray]:
    sess, signature = session
    feeds = {signature.inputs["frames"].name: frames}
    fetches = {key: info.name for key, info in signature.outputs.items()}
    return sess.run(fetches, feeds)


@pytest.mark.slow
def test_session_matches_eager(session, astronaut, grace_hopper):
    blank = np.zeros_like(astronaut)
    frames = np.stack([astronaut, blank, astronaut[:, ::-1]])
    out = _run(session, frames)
    boxes, scores, count = detect_faces(frames, max_faces=3)
    assert out["face_count"].tolist() == count.numpy().tolist() == [1, 0, 1]
    np.testing.assert_allclose(out["face_boxes"], boxes.numpy(), atol=1e-5)
    np.testing.assert_allclose(out["face_scores"], scores.numpy(), atol=1e-5)
    assert out["faces"].shape == (3, 3, CROP, CROP, 3) and out["faces"].dtype == np.uint8
    assert out["faces"][0, 0].std() > 20 and not np.any(out["faces"][1])

    # Another frame size and batch size through the same graph.
    other = _run(session, grace_hopper[None])
    assert other["face_count"].tolist() == [1]
    assert other["face_scores"][0, 0] > 0.9


@pytest.mark.slow
def test_session_without_faces(session):
    out = _run(session, np.full([2, 90, 70, 3], 200, np.uint8))
    assert out["face_count"].tolist() == [0, 0]
    assert out["face_boxes"].shape == (2, 3, 4) and not np.any(out["face_boxes"])
    assert not np.any(out["faces"])
