"""Grad-CAM inside the exported graph: where in a face crop the classifier saw a fake.

A face-aware version's ``explain`` signature (:data:`contract.EXPLAIN_SIGNATURE`) runs the
same detector and crops as ``serving_default`` and, per face, a class-activation map:
Grad-CAM (Selvaraju et al., ICCV 2017) of the fake logit with respect to the classifier's
last spatial feature map (the last convolution's activation, after its pooling if any),
ReLU, divided by its own maximum so that every face's map lies in ``[0, 1]``. The maps stay
at the feature map's resolution ``[h, w]`` (e.g. 7x7 for EfficientNet-Lite0 at 224): that is
all the information they carry, it keeps the answer small, and the client resizes them onto
the crop, which they cover exactly.

The gradient is taken with ``tf.GradientTape`` inside the exported ``tf.function``: the
graph holds the gradient ops, so TF Serving's session runs them like any other.

The classifier is split at that feature map into a body (input to features) and a head
(features to the logit). A head ending in a one-unit sigmoid ``Dense`` gives its logit
exactly (its pre-activation); any other head gives ``logit(p)``. The version's Platt
calibration is a positive affine map of the logit, so it changes no normalised map and
applies to the probability only.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from model_export.calibration import EPS, IDENTITY, Calibration
from model_export.export import calibrate_in_graph
from model_export.preprocess import preprocess_frames

_CONV_TYPES = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
)


def _has_conv(layer: keras.layers.Layer) -> bool:
    if isinstance(layer, _CONV_TYPES):
        return True
    return isinstance(layer, keras.Model) and any(_has_conv(inner) for inner in layer.layers)


@dataclass(frozen=True)
class GradCamSplit:
    """A classifier cut at its last spatial feature map, for Grad-CAM."""

    #: Model input (float32 ``[K, H, W, 3]`` in ``[0, 1]``) to the feature map ``[K, h, w, C]``.
    body: keras.Model
    #: Feature map to the head's last input (sigmoid ``Dense`` head) or to the probability.
    head: keras.Model
    #: The head's one-unit sigmoid ``Dense`` whose pre-activation is the logit, if any.
    logit_layer: keras.layers.Dense | None
    #: Name of the layer whose output is the feature map.
    layer_name: str

    @property
    def map_shape(self) -> tuple[int, int]:
        """``(h, w)`` of the maps."""
        shape = self.body.output.shape
        return int(shape[1]), int(shape[2])

    def logit(self, features: tf.Tensor) -> tf.Tensor:
        """The fake logit ``[K]`` of feature maps ``[K, h, w, C]``."""
        out = self.head(features, training=False)
        if self.logit_layer is not None:
            z = tf.matmul(out, tf.convert_to_tensor(self.logit_layer.kernel))
            return tf.reshape(z + tf.convert_to_tensor(self.logit_layer.bias), [-1])
        p = tf.clip_by_value(tf.reshape(tf.cast(out, tf.float32), [-1]), EPS, 1.0 - EPS)
        return tf.math.log(p) - tf.math.log1p(-p)


def _outer_output(layer: keras.layers.Layer) -> keras.KerasTensor:
    """The tensor ``layer`` produces in the model that holds it.

    For a nested model (a backbone), ``.output`` is the output of its own inner graph, not
    connected to the outer model's inputs; its call node in the outer graph holds the one
    that is (Keras keeps it in ``_inbound_nodes``, with no public accessor).
    """
    if isinstance(layer, keras.Model):
        return layer._inbound_nodes[-1].output_tensors[0]
    return layer.output


def gradcam_split(model: keras.Model) -> GradCamSplit | None:
    """Cut a functional classifier at its last rank-4 layer output, or None if it cannot.

    The feature map is the output of the last top-level layer whose output is ``[K, h, w,
    C]`` and at or after a convolution (a nested backbone counts as one layer: its output is
    its last convolution's activation). Models with no convolution, no spatial map before
    their head, or that are not functional get None: such versions have no ``explain``.
    """
    try:
        layers = list(model.layers)
        outputs = [_outer_output(layer) for layer in layers]
    except (AttributeError, IndexError, ValueError):
        return None
    first_conv = next((i for i, layer in enumerate(layers) if _has_conv(layer)), None)
    if first_conv is None:
        return None
    feature_index = None
    for i in range(len(layers) - 1, first_conv - 1, -1):
        shape = getattr(outputs[i], "shape", None)
        if shape is not None and len(shape) == 4 and None not in tuple(shape)[1:]:
            feature_index = i
            break
    if feature_index is None or feature_index == len(layers) - 1:
        return None
    last = layers[-1]
    sigmoid_dense = (
        isinstance(last, keras.layers.Dense)
        and last.units == 1
        and getattr(last.activation, "__name__", "") == "sigmoid"
    )
    features = outputs[feature_index]
    try:
        body = keras.Model(model.inputs, features, name=f"{model.name}_gradcam_body")
        head = keras.Model(
            features,
            last.input if sigmoid_dense else model.output,
            name=f"{model.name}_gradcam_head",
        )
    except (TypeError, ValueError):
        return None
    return GradCamSplit(
        body=body,
        head=head,
        logit_layer=last if sigmoid_dense else None,
        layer_name=layers[feature_index].name,
    )


def explain_images(
    split: GradCamSplit,
    images: tf.Tensor,
    input_size: tuple[int, int],
    calibration: Calibration = IDENTITY,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Calibrated fake probability ``[K]`` and Grad-CAM maps ``[K, h, w]`` of uint8 images.

    Empty in, empty out (convolutions reject empty batches). A face whose map is zero
    everywhere (no positive evidence for "fake") keeps a zero map.
    """
    h, w = split.map_shape

    def run() -> tuple[tf.Tensor, tf.Tensor]:
        x = preprocess_frames(images, input_size)
        features = tf.cast(split.body(x, training=False), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(features)
            logit = split.logit(features)
        # Each face's logit depends on its own features only (inference mode), so the
        # gradient of the sum is every face's own gradient.
        grads = tape.gradient(logit, features)
        weights = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(features * weights, axis=-1))
        peak = tf.reduce_max(cam, axis=[1, 2], keepdims=True)
        cam = tf.math.divide_no_nan(cam, peak)
        probability = calibrate_in_graph(tf.math.sigmoid(logit), calibration)
        return probability, cam

    return tf.cond(
        tf.shape(images)[0] > 0,
        run,
        lambda: (tf.zeros([0], tf.float32), tf.zeros([0, h, w], tf.float32)),
    )
