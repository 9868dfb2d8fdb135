"""The ``explain`` signature: Grad-CAM per face, in the graph, through TF Serving's loader."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

import contract
from model_export import mesonet
from model_export.explain import gradcam_split
from model_export.face_export import FaceConfig, publish_face_version
from model_export.models import efficientnet_lite0_classifier, small_cnn
from model_export.preprocess import preprocess_frames
from model_export.savedmodel import load_version
from tests.tiny_model import tiny_cnn
from tests.videos import face_frames

SIZE = (32, 32)


@pytest.fixture(scope="module")
def tiny_face_version(tmp_path_factory: pytest.TempPathFactory) -> tuple[keras.Model, Path]:
    """An untrained tiny CNN published face-aware (conv1 is its last spatial map)."""
    model = tiny_cnn(SIZE, seed=3)
    base = tmp_path_factory.mktemp("models")
    version = publish_face_version(
        model, base, "tiny", threshold=0.4, input_size=SIZE, faces=FaceConfig(max_faces=2)
    )
    return model, version


@pytest.mark.slow
def test_explain_matches_serving_default_and_analytic_gradcam(tiny_face_version) -> None:  # type: ignore[no-untyped-def]
    model, version = tiny_face_version
    frames = np.stack(face_frames(2, 320, 240, faces=2, seed=4) + face_frames(1, 320, 240))
    with load_version(version) as loaded:
        assert contract.EXPLAIN_SIGNATURE in loaded.signatures
        served = loaded.run({contract.FRAMES_INPUT: frames})
        explained = loaded.run({contract.FRAMES_INPUT: frames}, contract.EXPLAIN_SIGNATURE)

    count = explained[contract.FACE_COUNT]
    assert count.tolist() == [2, 2, 0]
    np.testing.assert_array_equal(count, served[contract.FACE_COUNT])
    np.testing.assert_allclose(explained[contract.FACE_BOXES], served[contract.FACE_BOXES])
    np.testing.assert_allclose(
        explained[contract.FACE_FAKE_PROBABILITY], served[contract.FACE_FAKE_PROBABILITY], atol=1e-5
    )
    crops = explained[contract.FACE_CROPS]
    maps = explained[contract.FACE_HEATMAPS]
    assert crops.shape == (3, 2, *SIZE, 3) and crops.dtype == np.uint8
    assert maps.shape == (3, 2, 15, 15) and maps.dtype == np.float32  # conv1: 3x3, stride 2
    assert not crops[2].any() and not maps[2].any()  # padding

    # The crop box is the face box widened by the margin on every side.
    box, crop_box = explained[contract.FACE_BOXES][0, 0], explained[contract.FACE_CROP_BOXES][0, 0]
    margin = FaceConfig().margin
    dy, dx = (box[2] - box[0]) * margin, (box[3] - box[1]) * margin
    np.testing.assert_allclose(crop_box, [box[0] - dy, box[1] - dx, box[2] + dy, box[3] + dx])

    # Grad-CAM of GAP -> Dense is analytic: the weights are the Dense kernel over h * w.
    conv = keras.Model(model.input, model.get_layer("conv1").output)
    kernel = model.get_layer("fc").get_weights()[0][:, 0]
    for i, j in ((0, 0), (0, 1), (1, 0)):
        features = np.asarray(conv(preprocess_frames(crops[i, j][None], SIZE)))[0]
        cam = np.maximum((features * kernel / (15 * 15)).sum(-1), 0.0)
        assert cam.max() > 0
        np.testing.assert_allclose(maps[i, j], cam / cam.max(), atol=1e-4)
        assert maps[i, j].max() == pytest.approx(1.0)


@pytest.mark.slow
def test_versions_without_a_convolution_have_no_explain(tmp_path: Path) -> None:
    inputs = keras.Input((*SIZE, 3))
    x = layers.Flatten()(inputs)
    dense = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
    assert gradcam_split(dense) is None
    version = publish_face_version(dense, tmp_path, "dense", threshold=0.5, input_size=SIZE)
    with load_version(version) as loaded:
        assert contract.EXPLAIN_SIGNATURE not in loaded.signatures
        assert contract.FACES_SIGNATURE in loaded.signatures


def test_whole_frame_versions_have_no_explain(tiny_version: Path) -> None:
    with load_version(tiny_version) as loaded:
        assert contract.EXPLAIN_SIGNATURE not in loaded.signatures


def test_split_points_of_the_architectures() -> None:
    """The map is the last convolution's activation: after pooling, or a backbone's output."""
    small = gradcam_split(small_cnn((64, 64), width=4))
    assert small is not None and small.layer_name == "pool4" and small.map_shape == (4, 4)
    lite = gradcam_split(efficientnet_lite0_classifier((96, 96), weights=None))
    assert lite is not None and lite.layer_name == "backbone" and lite.map_shape == (3, 3)
    assert lite.logit_layer is not None
    meso = gradcam_split(mesonet.build("meso4", (256, 256)))
    assert meso is not None and meso.layer_name.startswith("max_pooling2d")
    assert meso.map_shape == (8, 8)  # its last pooling, before the Flatten head
