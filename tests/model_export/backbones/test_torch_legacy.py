"""The legacy ``torch.save`` reader: tensor layout, the real file, and refused globals."""

from __future__ import annotations

import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from model_export.backbones.torch_legacy import (
    MAGIC_NUMBER,
    PROTOCOL_VERSION,
    UnsafePickleError,
    load_state_dict,
)

# Pickle opcodes, to write what torch.save writes without importing torch.


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _str(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _tensor(key: str, storage: str, numel: int, offset: int, size, stride) -> bytes:
    pid = _tuple(
        [_str("storage"), _global("torch", storage), _str(key), _str("cpu"), _int(numel), b"N"]
    )
    args = _tuple(
        [
            pid + b"Q",  # BINPERSID
            _int(offset),
            _tuple([_int(n) for n in size]),
            _tuple([_int(s) for s in stride]),
            b"\x89",  # requires_grad=False
            b"N",
        ]
    )
    return _global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def _legacy_file(entries: dict[str, bytes], storages: dict[str, np.ndarray], obj=None) -> bytes:
    header = (
        pickle.dumps(MAGIC_NUMBER, protocol=2)
        + pickle.dumps(PROTOCOL_VERSION, protocol=2)
        + pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
    )
    if obj is None:
        items = b"".join(_str(name) + value for name, value in entries.items())
        obj = b"\x80\x02" + _global("collections", "OrderedDict") + b")R(" + items + b"u."
    tail = pickle.dumps(list(storages), protocol=2)
    for data in storages.values():
        tail += struct.pack("<q", data.size) + data.tobytes()
    return header + obj + tail


def test_strided_tensors_share_a_storage():
    data = np.arange(8, dtype="<f4")
    blob = _legacy_file(
        {
            "w": _tensor("0", "FloatStorage", 8, 1, (2, 3), (1, 2)),
            "v": _tensor("0", "FloatStorage", 8, 6, (2,), (1,)),
            "steps": _tensor("1", "LongStorage", 1, 0, (), ()),
        },
        {"0": data, "1": np.array([42], "<i8")},
    )
    state = load_state_dict(io.BytesIO(blob))
    assert list(state) == ["w", "v", "steps"]
    # Element [i, j] sits at offset + i * stride[0] + j * stride[1].
    np.testing.assert_array_equal(state["w"], [[1, 3, 5], [2, 4, 6]])
    assert state["w"].dtype == np.float32 and state["w"].flags.c_contiguous
    np.testing.assert_array_equal(state["v"], [6, 7])
    assert state["steps"].shape == () and state["steps"].dtype == np.int64 and state["steps"] == 42


def test_refuses_a_disallowed_global(tmp_path: Path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    blob = _legacy_file({}, {}, obj=pickle.dumps({"x": Exploit()}, protocol=2))
    with pytest.raises(UnsafePickleError, match="system"):
        load_state_dict(io.BytesIO(blob))
    assert not marker.exists()


def test_refuses_globals_in_the_header():
    blob = pickle.dumps(os.getcwd, protocol=2) + b"rest"
    with pytest.raises(UnsafePickleError):
        load_state_dict(io.BytesIO(blob))


def test_rejects_a_truncated_storage():
    blob = _legacy_file(
        {"w": _tensor("0", "FloatStorage", 4, 0, (4,), (1,))}, {"0": np.zeros(4, "<f4")}
    )
    with pytest.raises(ValueError, match="ends inside storage"):
        load_state_dict(io.BytesIO(blob[:-2]))


def test_reads_the_wheel_state_dict(lite0_state):
    assert len(lite0_state) == 296
    assert lite0_state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert lite0_state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert lite0_state["_fc.weight"].shape == (1000, 1280)
    assert all(np.all(np.isfinite(v)) for v in lite0_state.values())
