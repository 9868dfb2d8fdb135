"""``detect_faces`` and ``classify_boxes``: serving_default in two halves, through TF Serving's
loader (a TF1 session), answering what serving_default answers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import contract
from model_export.face_export import FaceConfig, publish_face_version
from model_export.savedmodel import LoadedVersion, load_version
from model_export.warmup import read_warmup
from tests.tiny_model import tiny_cnn
from tests.videos import face_frames

pytestmark = pytest.mark.slow

SIZE = (32, 32)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A tiny CNN published face-aware, restored as TF Serving restores it."""
    base = tmp_path_factory.mktemp("models")
    version = publish_face_version(
        tiny_cnn(SIZE, seed=5), base, "tiny", threshold=0.4, input_size=SIZE,
        faces=FaceConfig(max_faces=2),
    )  # fmt: skip
    with load_version(version) as handle:
        yield handle


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """Two frames with two faces, one with one, one without any."""
    return np.stack(
        face_frames(2, 320, 240, faces=2, seed=4)
        + face_frames(1, 320, 240, faces=1, seed=6)
        + face_frames(1, 320, 240)
    )


def test_signatures_and_warmup(loaded: LoadedVersion) -> None:
    for name in (contract.DETECT_SIGNATURE, contract.CLASSIFY_BOXES_SIGNATURE):
        assert name in loaded.signatures
    inputs = set(loaded.signatures[contract.CLASSIFY_BOXES_SIGNATURE].inputs)
    assert inputs == {
        contract.FRAMES_INPUT, contract.FACE_BOXES, contract.FACE_SCORES, contract.FACE_COUNT
    }  # fmt: skip
    records = list(read_warmup(loaded.path / contract.WARMUP_RELATIVE_PATH))
    warmed = [r.predict_log.request.model_spec.signature_name for r in records]
    assert contract.DETECT_SIGNATURE in warmed and contract.CLASSIFY_BOXES_SIGNATURE in warmed
    assert loaded.replay_warmup() == len(records)
    # Serving refuses a warmup input of another dtype than the signature's (a session casts).
    for record in records:
        request = record.predict_log.request
        signature = loaded.signatures[request.model_spec.signature_name or "serving_default"]
        for key, proto in request.inputs.items():
            assert proto.dtype == signature.inputs[key].dtype, (key, signature)


def test_classify_boxes_on_detected_faces_is_serving_default(
    loaded: LoadedVersion, frames: np.ndarray
) -> None:
    served = loaded.run({contract.FRAMES_INPUT: frames})
    found = loaded.run({contract.FRAMES_INPUT: frames}, contract.DETECT_SIGNATURE)
    assert found[contract.FACE_COUNT].tolist() == [2, 2, 1, 0]
    np.testing.assert_array_equal(found[contract.FACE_COUNT], served[contract.FACE_COUNT])
    np.testing.assert_allclose(found[contract.FACE_BOXES], served[contract.FACE_BOXES])
    again = loaded.run({contract.FRAMES_INPUT: frames, **found}, contract.CLASSIFY_BOXES_SIGNATURE)
    assert set(again) == set(served)
    for key, value in served.items():
        np.testing.assert_allclose(again[key], value, atol=1e-5, err_msg=key)
    # The faceless frame is classified whole, the others by their most suspicious face.
    probability = served[contract.FACE_FAKE_PROBABILITY]
    np.testing.assert_allclose(served[contract.FAKE_PROBABILITY][:3], probability[:3].max(axis=1))


def test_boxes_found_on_a_downscaled_frame_fit_the_full_one(
    loaded: LoadedVersion, frames: np.ndarray
) -> None:
    small = np.stack([cv2.resize(f, (240, 180), interpolation=cv2.INTER_AREA) for f in frames])
    full = loaded.run({contract.FRAMES_INPUT: frames}, contract.DETECT_SIGNATURE)
    scaled = loaded.run({contract.FRAMES_INPUT: small}, contract.DETECT_SIGNATURE)
    np.testing.assert_array_equal(scaled[contract.FACE_COUNT], full[contract.FACE_COUNT])
    np.testing.assert_allclose(scaled[contract.FACE_BOXES], full[contract.FACE_BOXES], atol=0.03)


def test_classify_boxes_takes_any_boxes(loaded: LoadedVersion, frames: np.ndarray) -> None:
    """Boxes from elsewhere (a schedule) are cut and scored; a count of 0 means whole frame."""
    boxes = np.zeros((4, 3, 4), np.float32)
    boxes[:, 0] = [0.2, 0.1, 0.6, 0.4]
    boxes[1, 1] = [0.3, 0.5, 0.7, 0.9]
    count = np.array([1, 2, 0, 1], np.int32)
    scores = np.full((4, 3), 0.9, np.float32)
    out = loaded.run(
        {
            contract.FRAMES_INPUT: frames,
            contract.FACE_BOXES: boxes,
            contract.FACE_SCORES: scores,
            contract.FACE_COUNT: count,
        },
        contract.CLASSIFY_BOXES_SIGNATURE,
    )
    assert out[contract.FACE_COUNT].tolist() == count.tolist()
    assert out[contract.FACE_BOXES].shape == (4, 3, 4)
    # Slots past the count come back empty, whatever was sent in them.
    assert not out[contract.FACE_BOXES][0, 1:].any() and not out[contract.FACE_SCORES][2].any()
    np.testing.assert_allclose(out[contract.FACE_SCORES][1, :2], 0.9)
    # Sent no box, the frame with a face is classified whole, as classify_faces would.
    whole = loaded.run({contract.FACES_INPUT: frames[2:3]}, contract.FACES_SIGNATURE)
    np.testing.assert_allclose(
        out[contract.FAKE_PROBABILITY][2], whole[contract.FAKE_PROBABILITY][0], atol=1e-6
    )
    np.testing.assert_allclose(
        out[contract.FAKE_PROBABILITY][1], out[contract.FACE_FAKE_PROBABILITY][1, :2].max()
    )
