"""Segmented AES-GCM media files: round trip, tamper and truncation detection, wrong keys."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from gateway.jobs import crypto
from gateway.jobs.media import MediaStore


@pytest.mark.parametrize("size", [0, 1, 1000, 4096, 4096 * 3, 4096 * 3 + 7])
def test_round_trip_at_segment_boundaries(size: int) -> None:
    data = os.urandom(size)
    key = crypto.new_data_key()
    sealed = io.BytesIO()
    crypto.encrypt_file(io.BytesIO(data), sealed, key, "job1", segment_size=4096)
    out = io.BytesIO()
    crypto.decrypt_file(io.BytesIO(sealed.getvalue()), out, key, "job1")
    assert out.getvalue() == data


def _sealed(data: bytes, key: bytes, job: str = "job1") -> bytes:
    out = io.BytesIO()
    crypto.encrypt_file(io.BytesIO(data), out, key, job, segment_size=4096)
    return out.getvalue()


def test_truncation_reordering_and_other_jobs_are_detected() -> None:
    key = crypto.new_data_key()
    data = os.urandom(4096 * 3)
    blob = _sealed(data, key)
    record = 12 + 4096 + 16
    header = len(crypto.MAGIC) + 4
    segments = [blob[header + i * record : header + (i + 1) * record] for i in range(3)]
    cases = {
        "dropped final segment": blob[: header + 2 * record],
        "swapped segments": blob[:header] + segments[1] + segments[0] + segments[2],
        "flipped bit": blob[:-1] + bytes([blob[-1] ^ 1]),
    }
    for name, altered in cases.items():
        with pytest.raises(crypto.MediaDecryptionError):
            crypto.decrypt_file(io.BytesIO(altered), io.BytesIO(), key, "job1")
        assert name
    with pytest.raises(crypto.MediaDecryptionError):
        crypto.decrypt_file(io.BytesIO(blob), io.BytesIO(), key, "job2")


def test_media_file_holds_no_plaintext_and_needs_its_kek(tmp_path: Path) -> None:
    marker = b"PLAINTEXT-MARKER-" * 1000
    source = tmp_path / "upload.bin"
    source.write_bytes(marker)
    kek = crypto.load_or_create_kek(None, tmp_path / "kek")
    assert stat.S_IMODE((tmp_path / "kek").stat().st_mode) == 0o600
    assert crypto.load_or_create_kek(None, tmp_path / "kek") == kek
    store = MediaStore(tmp_path / "media", kek)
    stored = store.store("j1", source)
    assert stored.size == len(marker)
    on_disk = store.path("j1").read_bytes()
    assert b"PLAINTEXT-MARKER" not in on_disk
    plain = store.decrypt_to_temp("j1", stored.wrapped_key)
    assert plain.read_bytes() == marker
    plain.unlink()
    wrong = MediaStore(tmp_path / "media", os.urandom(32))
    with pytest.raises(crypto.MediaDecryptionError):
        wrong.decrypt_to_temp("j1", stored.wrapped_key)
    store.delete("j1")
    assert not store.path("j1").exists()


def test_configured_kek_must_be_32_bytes_of_base64(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        crypto.load_or_create_kek("c2hvcnQ=", tmp_path / "kek")
