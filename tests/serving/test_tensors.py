"""TensorProto <-> numpy conversion, with TensorFlow's own conversion as the reference."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving import tensors


@pytest.mark.parametrize(
    "array",
    [
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
        np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
        np.array(3.5, dtype=np.float32),
        np.array([1, -2, 3], dtype=np.int64),
        np.array([True, False]),
        np.array([1.5, 2.5], dtype=np.float16),
        np.zeros((0, 4), dtype=np.float32),
    ],
)
def test_round_trip_matches_tensorflow(array):
    proto = tensors.from_numpy(array)
    assert proto.tensor_content or array.size == 0
    np.testing.assert_array_equal(tensors.to_numpy(proto), array)
    np.testing.assert_array_equal(tf.make_ndarray(proto), array)
    np.testing.assert_array_equal(tensors.to_numpy(tf.make_tensor_proto(array)), array)


def test_strings_use_string_val():
    array = np.array([b"a", b"bc"], dtype=object)
    proto = tensors.from_numpy(array)
    assert proto.dtype == types_pb2.DT_STRING
    assert list(proto.string_val) == [b"a", b"bc"]
    assert list(tensors.to_numpy(proto)) == [b"a", b"bc"]


def test_short_value_list_repeats_last_value_like_tensorflow():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    proto.tensor_shape.CopyFrom(tensors.shape_proto((2, 2)))
    proto.float_val.extend([1.0, 2.0])
    np.testing.assert_array_equal(tensors.to_numpy(proto), tf.make_ndarray(proto))
    np.testing.assert_array_equal(tensors.to_numpy(proto), [[1.0, 2.0], [2.0, 2.0]])


def test_too_many_values_or_bytes_is_a_parse_error():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32)
    proto.tensor_shape.CopyFrom(tensors.shape_proto((1,)))
    proto.int_val.extend([1, 2])
    with pytest.raises(tensors.TensorParseError):
        tensors.to_numpy(proto)
    packed = tensors.from_numpy(np.zeros(3, np.float32))
    packed.tensor_content += b"\0"
    with pytest.raises(tensors.TensorParseError):
        tensors.to_numpy(packed)
