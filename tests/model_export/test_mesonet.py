"""MesoNet rebuilt from the published weights, and its face-aware import."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

import contract
from model_export.cli import main
from model_export.mesonet import fake_probability_model, load_mesonet
from model_export.savedmodel import load_version

from .conftest import SHARED_DATA

WEIGHTS = SHARED_DATA / "weights_mesonet_dariusaf"
IMAGES = SHARED_DATA / "images_mesonet-test"

pytestmark = pytest.mark.skipif(
    not WEIGHTS.is_dir(), reason=f"MesoNet weights not found at {WEIGHTS} (dev setup only)"
)


def _test_faces() -> tuple[np.ndarray, np.ndarray]:
    with (IMAGES / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    images = np.stack([
        np.asarray(Image.open(IMAGES / r["file"]).convert("RGB").resize((256, 256)))
        for r in rows
    ])  # fmt: skip
    return images, np.array([r["label"] == "FAKE" for r in rows])


@pytest.mark.parametrize(
    ("weights", "arch"), [("Meso4_DF.h5", "meso4"), ("MesoInception_DF.h5", "mesoinception4")]
)
def test_published_weights_separate_the_test_faces(weights: str, arch: str) -> None:
    model = fake_probability_model(load_mesonet(WEIGHTS / weights, arch))
    images, is_fake = _test_faces()
    scores = np.asarray(model(images / 255.0)).reshape(-1)
    assert scores[is_fake].min() > 0.9
    assert scores[~is_fake].max() < 0.1


def test_wrong_architecture_is_refused() -> None:
    with pytest.raises(ValueError, match=r"layers|shapes"):
        load_mesonet(WEIGHTS / "Meso4_DF.h5", "mesoinception4")


@pytest.mark.slow
def test_import_publishes_face_aware_version(tmp_path: Path) -> None:
    output = tmp_path / "models" / "deepfake"
    argv = ["import-mesonet", "--weights", str(WEIGHTS / "Meso4_DF.h5"), "--arch", "meso4",
            "--output", str(output)]  # fmt: skip
    assert main(argv) == 0
    assert main(argv) == 0
    assert sorted(p.name for p in output.iterdir()) == ["1", "2"]
    photo = skimage.data.astronaut()
    frames = np.stack([photo, np.zeros_like(photo)])
    images, is_fake = _test_faces()
    with load_version(output / "2") as loaded:
        sig = loaded.signatures[contract.SERVING_SIGNATURE]
        assert set(sig.outputs) == {*contract.REQUIRED_OUTPUTS, *contract.FACE_OUTPUTS}
        out = loaded.run({contract.FRAMES_INPUT: frames})
        faces = loaded.run({contract.FACES_INPUT: images}, contract.FACES_SIGNATURE)
        assert loaded.replay_warmup() == 7  # frames 1, 8, 32; crops; model_info; keyframe pair
        described = loaded.run(
            {contract.FRAMES_INPUT: np.zeros([1, 1, 1, 3], np.uint8)}, contract.MODEL_INFO_SIGNATURE
        )
    # Faces are found in the whole frame: the version asks for no smaller frames.
    assert described[contract.FRAME_MIN_SIDE].tolist() == [0]
    # It says the face crop side its classifier takes (MesoNet: 256).
    assert described[contract.FACE_INPUT_SIDE].tolist() == [256]
    assert out[contract.FACE_COUNT].tolist() == [1, 0]
    y1, x1, y2, x2 = out[contract.FACE_BOXES][0, 0]
    # The astronaut's face (measured once with the mtcnn package) is near x 182-265, y 64-171.
    assert abs(x1 * 512 - 182) < 20 and abs(y1 * 512 - 64) < 25 and x2 > x1 and y2 > y1
    assert out[contract.FAKE_PROBABILITY][0] == out[contract.FACE_FAKE_PROBABILITY][0, 0]
    assert out[contract.THRESHOLD].tolist() == [0.5, 0.5]
    scores = faces[contract.FAKE_PROBABILITY]
    assert scores[is_fake].min() > scores[~is_fake].max()
