"""Read tensors saved by ``torch.save`` in the legacy (non-zip) format, without PyTorch.

Before PyTorch 1.6, ``torch.save`` wrote one file made of consecutive pickles, then raw
bytes:

1. the magic number ``0x1950a86a20f9469cfc6c``;
2. the protocol version (1001);
3. a dict of system information (byte order, type sizes);
4. the pickled object. Each tensor in it is a call of ``torch._utils._rebuild_tensor_v2``
   whose first argument is a persistent id ``('storage', storage_type, key, location,
   numel[, view_metadata])`` naming a storage that the file holds further on;
5. the list of storage keys, in the order their data follows;
6. per storage: its element count as a little-endian int64, then its elements.

Only the globals this needs are resolved (:data:`ALLOWED_GLOBALS`); any other global in
the pickle raises :class:`UnsafePickleError` instead of being imported, so a file cannot
run code while it is read.
"""

from __future__ import annotations

import collections
import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

logger = logging.getLogger(__name__)

#: First pickle of a legacy ``torch.save`` file.
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
#: Second pickle: the only protocol version this format has had.
PROTOCOL_VERSION = 1001

#: Storage classes and the little-endian numpy dtype of their elements.
STORAGE_DTYPES: Mapping[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}

#: The ``(module, name)`` globals the object pickle may name; nothing else is resolved.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_tensor"),
    }
    | {("torch", name) for name in STORAGE_DTYPES}
)


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside :data:`ALLOWED_GLOBALS`."""


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for a ``torch.*Storage`` class: only its element dtype matters."""

    name: str
    dtype: np.dtype


@dataclass
class _Storage:
    """A storage named by a persistent id; its data is filled in after the object pickle."""

    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass(frozen=True)
class _TensorRef:
    """A tensor of the object pickle, rebuilt once its storage's data has been read."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(
    storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> _TensorRef:
    # Extra arguments of _rebuild_tensor_v2 (requires_grad, backward hooks) do not matter
    # for the values.
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`ALLOWED_GLOBALS` and collects storages."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(f"refusing to load global {module}.{name}")
        if module == "collections":
            return collections.OrderedDict
        if module == "torch._utils":
            return _rebuild_tensor
        return _StorageType(name, STORAGE_DTYPES[name])

    def persistent_load(self, pid: Any) -> _Storage:
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel, *view = pid
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"persistent id names no storage type: {pid!r}")
        if view and view[0] is not None:
            # Storage views were written by very old PyTorch versions only.
            raise pickle.UnpicklingError(f"storage views are not supported: {pid!r}")
        key = str(key)
        storage = self.storages.get(key)
        if storage is None:
            storage = _Storage(key, storage_type.dtype, int(numel))
            self.storages[key] = storage
        return storage


class _PlainUnpickler(pickle.Unpickler):
    """Unpickler for the header and key-list pickles, which need no global nor storage."""

    def find_class(self, module: str, name: str) -> Any:
        raise UnsafePickleError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")


def _as_array(ref: _TensorRef) -> np.ndarray:
    data = ref.storage.data
    if data is None:
        raise ValueError(f"storage {ref.storage.key} has no data in the file")
    itemsize = data.dtype.itemsize
    if ref.size:
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True))
        if min(ref.size) > 0 and (ref.offset < 0 or last >= data.size):
            raise ValueError(f"tensor exceeds storage {ref.storage.key}")
    view = np.lib.stride_tricks.as_strided(
        data[ref.offset :],
        shape=ref.size,
        strides=tuple(s * itemsize for s in ref.stride),
        writeable=False,
    )
    # A copy: contiguous, writable and independent of the whole-storage buffer.
    return np.array(view, copy=True, order="C")


def _convert(obj: Any) -> Any:
    if isinstance(obj, _TensorRef):
        return _as_array(obj)
    if isinstance(obj, Mapping):
        return {key: _convert(value) for key, value in obj.items()}
    return obj


def load_state_dict(source: str | Path | BinaryIO) -> dict[str, np.ndarray]:
    """Read a state dict saved by legacy ``torch.save`` as numpy arrays.

    Args:
        source: path of the file, or a binary file object positioned at its start.

    Returns:
        Parameter and buffer names mapped to arrays of the saved shape and dtype, in the
        saved order.

    Raises:
        UnsafePickleError: the object pickle names a global outside
            :data:`ALLOWED_GLOBALS`.
        ValueError: the file is not a legacy ``torch.save`` file of a state dict, or its
            storages are inconsistent.
    """
    if isinstance(source, str | Path):
        with open(source, "rb") as file:
            return load_state_dict(file)
    file = source
    magic = _PlainUnpickler(file).load()
    if magic != MAGIC_NUMBER:
        raise ValueError("not a legacy torch.save file (zip archives are not supported)")
    version = _PlainUnpickler(file).load()
    if version != PROTOCOL_VERSION:
        raise ValueError(f"unsupported protocol version {version!r}")
    sys_info = _PlainUnpickler(file).load()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise ValueError("big-endian files are not supported")

    unpickler = _RestrictedUnpickler(file)
    obj = unpickler.load()
    keys = _PlainUnpickler(file).load()
    if not isinstance(obj, Mapping):
        raise ValueError(f"expected a state dict, got {type(obj).__name__}")

    # Storage data follows the key list; the first eight bytes of each give its size.
    for key in keys:
        storage = unpickler.storages.get(str(key))
        if storage is None:
            raise ValueError(f"storage {key} is not used by any tensor")
        header = file.read(8)
        if len(header) != 8:
            raise ValueError(f"file ends before storage {key}")
        numel = int(np.frombuffer(header, "<i8")[0])
        if numel != storage.numel:
            raise ValueError(f"storage {key}: {numel} elements, expected {storage.numel}")
        nbytes = numel * storage.dtype.itemsize
        raw = file.read(nbytes)
        if len(raw) != nbytes:
            raise ValueError(f"file ends inside storage {key}")
        storage.data = np.frombuffer(raw, storage.dtype)

    state = _convert(obj)
    logger.debug("read %d tensors from %d storages", len(state), len(keys))
    return state
