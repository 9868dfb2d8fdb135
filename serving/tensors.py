"""Conversion between ``TensorProto`` and numpy arrays without TensorFlow ops.

Requests are decoded with ``numpy.frombuffer`` on ``tensor_content`` when it is
set; responses are always written as ``tensor_content`` (what TF Serving does
with ``--enable_serialization_as_tensor_content``), except for strings, which
have no packed form.
"""

from __future__ import annotations

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

#: TensorFlow DataType enum -> numpy dtype (little-endian, as tensor_content is).
_NUMPY_BY_DTYPE: dict[int, np.dtype] = {
    types_pb2.DT_FLOAT: np.dtype("<f4"),
    types_pb2.DT_DOUBLE: np.dtype("<f8"),
    types_pb2.DT_INT32: np.dtype("<i4"),
    types_pb2.DT_UINT8: np.dtype("u1"),
    types_pb2.DT_INT16: np.dtype("<i2"),
    types_pb2.DT_INT8: np.dtype("i1"),
    types_pb2.DT_COMPLEX64: np.dtype("<c8"),
    types_pb2.DT_INT64: np.dtype("<i8"),
    types_pb2.DT_BOOL: np.dtype("?"),
    types_pb2.DT_UINT16: np.dtype("<u2"),
    types_pb2.DT_COMPLEX128: np.dtype("<c16"),
    types_pb2.DT_HALF: np.dtype("<f2"),
    types_pb2.DT_UINT32: np.dtype("<u4"),
    types_pb2.DT_UINT64: np.dtype("<u8"),
    types_pb2.DT_STRING: np.dtype(object),
}
_DTYPE_BY_NUMPY: dict[np.dtype, int] = {
    v.newbyteorder("="): k for k, v in _NUMPY_BY_DTYPE.items() if k != types_pb2.DT_STRING
}


class TensorParseError(ValueError):
    """The TensorProto cannot be turned into an array (TF: "tensor parsing error")."""


def dtype_name(dtype: int) -> str:
    """Return TensorFlow's short name for a DataType ("float", "uint8", ...)."""
    name = types_pb2.DataType.Name(dtype) if dtype in types_pb2.DataType.values() else str(dtype)
    return name.removeprefix("DT_").lower()


def numpy_dtype(dtype: int) -> np.dtype:
    """Return the numpy dtype for a TensorFlow DataType, or raise TensorParseError."""
    try:
        return _NUMPY_BY_DTYPE[dtype]
    except KeyError:
        raise TensorParseError(f"unsupported dtype {dtype_name(dtype)}") from None


def _shape(proto: tensor_pb2.TensorProto) -> tuple[int, ...]:
    if proto.tensor_shape.unknown_rank:
        raise TensorParseError("tensor shape has unknown rank")
    dims = tuple(d.size for d in proto.tensor_shape.dim)
    if any(d < 0 for d in dims):
        raise TensorParseError("tensor shape has a negative dimension")
    return dims


def _typed_values(proto: tensor_pb2.TensorProto, dtype: np.dtype) -> np.ndarray:
    """Values from the repeated ``*_val`` field that TensorFlow reads for this dtype."""
    t = proto.dtype
    if t in (types_pb2.DT_FLOAT,):
        return np.asarray(proto.float_val, dtype=dtype)
    if t == types_pb2.DT_DOUBLE:
        return np.asarray(proto.double_val, dtype=dtype)
    if t in (
        types_pb2.DT_INT32,
        types_pb2.DT_INT16,
        types_pb2.DT_INT8,
        types_pb2.DT_UINT8,
        types_pb2.DT_UINT16,
    ):
        return np.asarray(proto.int_val, dtype=np.int64).astype(dtype)
    if t == types_pb2.DT_INT64:
        return np.asarray(proto.int64_val, dtype=dtype)
    if t == types_pb2.DT_UINT32:
        return np.asarray(proto.uint32_val, dtype=dtype)
    if t == types_pb2.DT_UINT64:
        return np.asarray(proto.uint64_val, dtype=dtype)
    if t == types_pb2.DT_BOOL:
        return np.asarray(proto.bool_val, dtype=dtype)
    if t == types_pb2.DT_HALF:
        # half_val carries the raw 16-bit patterns in int32 slots.
        return np.asarray(proto.half_val, dtype=np.uint16).view(dtype)
    if t == types_pb2.DT_COMPLEX64:
        pairs = np.asarray(proto.scomplex_val, dtype=np.float32)
        return pairs.view(np.complex64) if pairs.size else np.zeros(0, dtype)
    if t == types_pb2.DT_COMPLEX128:
        pairs = np.asarray(proto.dcomplex_val, dtype=np.float64)
        return pairs.view(np.complex128) if pairs.size else np.zeros(0, dtype)
    if t == types_pb2.DT_STRING:
        out = np.empty(len(proto.string_val), dtype=object)
        out[:] = list(proto.string_val)
        return out
    raise TensorParseError(f"unsupported dtype {dtype_name(t)}")


def to_numpy(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Decode a TensorProto into a numpy array, with TensorFlow's rules.

    ``tensor_content`` must hold exactly the bytes of the shape; a repeated
    value field may hold fewer values than the shape, and then its last value
    fills the rest (zeros when empty), as ``Tensor::FromProto`` does.
    """
    dtype = numpy_dtype(proto.dtype)
    shape = _shape(proto)
    count = int(np.prod(shape, dtype=np.int64))
    if proto.tensor_content and proto.dtype != types_pb2.DT_STRING:
        if len(proto.tensor_content) != count * dtype.itemsize:
            raise TensorParseError(
                f"tensor_content holds {len(proto.tensor_content)} bytes, "
                f"shape {list(shape)} of {dtype_name(proto.dtype)} needs {count * dtype.itemsize}"
            )
        return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape)
    values = _typed_values(proto, dtype)
    if values.size == count:
        return values.reshape(shape)
    if values.size > count:
        raise TensorParseError(f"{values.size} values for shape {list(shape)}")
    filled = np.empty(count, dtype=dtype)
    if values.size == 0:
        filled[:] = b"" if dtype == np.dtype(object) else 0
    else:
        filled[: values.size] = values
        filled[values.size :] = values[-1]
    return filled.reshape(shape)


def dtype_of(array: np.ndarray) -> int:
    """Return the TensorFlow DataType of a numpy array (object/bytes -> DT_STRING)."""
    if array.dtype == np.dtype(object) or array.dtype.kind in "SU":
        return types_pb2.DT_STRING
    try:
        return _DTYPE_BY_NUMPY[array.dtype.newbyteorder("=")]
    except KeyError:
        raise TensorParseError(f"numpy dtype {array.dtype} has no TensorFlow type") from None


def shape_proto(shape: tuple[int, ...]) -> tensor_shape_pb2.TensorShapeProto:
    """Build a TensorShapeProto from a concrete shape."""
    return tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in shape]
    )


def from_numpy(array: np.ndarray) -> tensor_pb2.TensorProto:
    """Encode a numpy array as a TensorProto using ``tensor_content`` for numbers."""
    array = np.asarray(array)
    tf_dtype = dtype_of(array)
    proto = tensor_pb2.TensorProto(dtype=tf_dtype, tensor_shape=shape_proto(array.shape))
    if tf_dtype == types_pb2.DT_STRING:
        proto.string_val.extend(
            v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1)
        )
        return proto
    target = numpy_dtype(tf_dtype)
    proto.tensor_content = np.ascontiguousarray(array, dtype=target).tobytes()
    return proto
