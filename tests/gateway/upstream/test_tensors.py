"""The gateway's TensorProto decoder, against protos TensorFlow itself writes."""

from __future__ import annotations

import numpy as np

from gateway.upstream.tensors import from_tensor_proto


def test_string_tensors_decode_to_text() -> None:
    import tensorflow as tf  # the reference writer; the gateway itself never imports it

    proto = tf.make_tensor_proto(np.array([["meso4", "mesoinception4"]], dtype=object))
    decoded = from_tensor_proto(proto)
    assert decoded.shape == (1, 2)
    assert decoded.tolist() == [["meso4", "mesoinception4"]]


def test_float_tensors_round_trip() -> None:
    import tensorflow as tf

    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(from_tensor_proto(tf.make_tensor_proto(values)), values)
