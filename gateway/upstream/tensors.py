"""TensorProto <-> numpy without TensorFlow: raw bytes in ``tensor_content``."""

from __future__ import annotations

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

_NUMPY_BY_DTYPE: dict[int, np.dtype] = {
    types_pb2.DT_FLOAT: np.dtype(np.float32),
    types_pb2.DT_DOUBLE: np.dtype(np.float64),
    types_pb2.DT_INT32: np.dtype(np.int32),
    types_pb2.DT_INT64: np.dtype(np.int64),
    types_pb2.DT_UINT8: np.dtype(np.uint8),
    types_pb2.DT_INT8: np.dtype(np.int8),
    types_pb2.DT_INT16: np.dtype(np.int16),
    types_pb2.DT_UINT16: np.dtype(np.uint16),
    types_pb2.DT_BOOL: np.dtype(np.bool_),
}
_DTYPE_BY_NUMPY = {v: k for k, v in _NUMPY_BY_DTYPE.items()}
# Where each dtype's values live when a server does not use tensor_content.
_VALUE_FIELD = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_BOOL: "bool_val",
}


def to_tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """Encode a numpy array as a TensorProto (one memcpy into ``tensor_content``)."""
    array = np.ascontiguousarray(array)
    dtype = _DTYPE_BY_NUMPY.get(array.dtype)
    if dtype is None:
        raise TypeError(f"unsupported dtype {array.dtype}")
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in array.shape]
    )
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, tensor_content=array.tobytes())


def from_tensor_proto(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Decode a TensorProto written either with ``tensor_content`` or typed value lists.

    Strings (an ensemble's ``member_names``) become an object array of ``str``.
    """
    if proto.dtype == types_pb2.DT_STRING:
        shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
        texts = [value.decode("utf-8", "replace") for value in proto.string_val]
        return np.array(texts, dtype=object).reshape(shape)
    dtype = _NUMPY_BY_DTYPE.get(proto.dtype)
    if dtype is None:
        raise TypeError(f"unsupported tensor dtype {types_pb2.DataType.Name(proto.dtype)}")
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    count = int(np.prod(shape)) if shape else 1
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape).copy()
    values = np.asarray(getattr(proto, _VALUE_FIELD[proto.dtype]), dtype=dtype)
    if values.size == count:
        return values.reshape(shape)
    if values.size == 1 or values.size == 0:
        # A repeated field holding fewer values means "fill with the last one".
        fill = values[-1] if values.size else dtype.type(0)
        return np.full(shape, fill, dtype=dtype)
    raise ValueError(f"tensor holds {values.size} values for shape {shape}")
