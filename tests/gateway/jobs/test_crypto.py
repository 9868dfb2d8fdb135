"""Segmented AES-GCM media files: round trip, tamper and truncation detection, wrong keys."""

from __future__ import annotations

import base64
import io
import os
import stat
from pathlib import Path

import pytest

from gateway.jobs import crypto
from gateway.jobs.media import MediaStore
from gateway.tempfiles import UPLOAD_NAME


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


def test_a_released_copy_outlives_its_jobs_end_and_the_work_sweep(tmp_path: Path) -> None:
    job_id = "0123456789abcdef0123456789abcdef"
    source = tmp_path / "upload.bin"
    source.write_bytes(b"frames")
    store = MediaStore(tmp_path / "media", os.urandom(32))
    stored = store.store(job_id, source)
    copy = store.decrypt_to_temp(job_id, stored.wrapped_key)
    released = store.release_copy(copy, tmp_path / "uploads")
    # Moved, not copied: no plaintext is left under work/, and the new owner's file is
    # named as uploads are (the start-up sweep takes it should the process be killed).
    assert not copy.exists() and list(store.work_dir.iterdir()) == []
    assert UPLOAD_NAME.fullmatch(released.name) and released.parent == tmp_path / "uploads"
    assert released.read_bytes() == b"frames"
    assert stat.S_IMODE(released.stat().st_mode) == 0o600
    store.delete(job_id)
    assert store.sweep_work(lambda _: False) == 0
    assert released.exists()
    # A copy that cannot move stays where it was, and no new file is left behind.
    with pytest.raises(FileNotFoundError):
        store.release_copy(copy, tmp_path / "uploads")
    assert sorted((tmp_path / "uploads").iterdir()) == [released]


def test_configured_kek_must_be_32_bytes_of_base64(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        crypto.load_or_create_kek("c2hvcnQ=", tmp_path / "kek")


def test_a_keyring_opens_what_any_of_its_keks_made_and_makes_only_under_the_current() -> None:
    old, new, other = os.urandom(32), os.urandom(32), os.urandom(32)
    data_key = crypto.new_data_key()
    under_old = crypto.Keyring(old).wrap(data_key)
    sealed_old = crypto.Keyring(old).seal(b"whsec_x", b"ctx")
    rotated = crypto.Keyring(new, (old,))
    assert rotated.unwrap(under_old) == data_key
    assert rotated.unseal(sealed_old, b"ctx") == b"whsec_x"
    # New material is under the current KEK alone: the old KEK does not open it.
    fresh = rotated.wrap(data_key)
    assert crypto.Keyring(new).unwrap(fresh) == data_key
    with pytest.raises(crypto.MediaDecryptionError):
        crypto.Keyring(old).unwrap(fresh)
    with pytest.raises(crypto.MediaDecryptionError):
        crypto.Keyring(old).unseal(rotated.seal(b"whsec_x", b"ctx"), b"ctx")
    # The old KEK dropped, or the wrong one listed: a clean error, never a wrong key.
    for ring in (crypto.Keyring(new), crypto.Keyring(new, (other,))):
        with pytest.raises(crypto.MediaDecryptionError, match="configured KEKs"):
            ring.unwrap(under_old)
        with pytest.raises(crypto.MediaDecryptionError):
            ring.unseal(sealed_old, b"ctx")
    # A sealed value is bound to its context under every KEK of the ring.
    with pytest.raises(crypto.MediaDecryptionError):
        rotated.unseal(sealed_old, b"another owner")


def test_rewrap_and_reseal_move_only_what_a_previous_kek_protects() -> None:
    old, new = os.urandom(32), os.urandom(32)
    ring = crypto.Keyring(new, (old,))
    data_key = crypto.new_data_key()
    moved = ring.rewrap(crypto.Keyring(old).wrap(data_key))
    assert moved is not None and crypto.Keyring(new).unwrap(moved) == data_key
    assert ring.rewrap(moved) is None  # already under the current KEK
    resealed = ring.reseal(crypto.Keyring(old).seal(b"s", b"ctx"), b"ctx")
    assert resealed is not None and crypto.Keyring(new).unseal(resealed, b"ctx") == b"s"
    assert ring.reseal(resealed, b"ctx") is None
    with pytest.raises(crypto.MediaDecryptionError):
        ring.rewrap(crypto.Keyring(os.urandom(32)).wrap(data_key))


def test_media_stored_under_the_old_kek_decrypts_after_rotation(tmp_path: Path) -> None:
    old, new = os.urandom(32), os.urandom(32)
    source = tmp_path / "upload.bin"
    source.write_bytes(os.urandom(5000))
    stored = MediaStore(tmp_path / "media", old).store("j1", source)
    rotated = MediaStore(tmp_path / "media", crypto.Keyring(new, (old,)))
    plain = rotated.decrypt_to_temp("j1", stored.wrapped_key)
    assert plain.read_bytes() == source.read_bytes()
    plain.unlink()
    with pytest.raises(crypto.MediaDecryptionError):
        MediaStore(tmp_path / "media", new).decrypt_to_temp("j1", stored.wrapped_key)
    again = rotated.store("j2", source)  # new media: wrapped by the current KEK only
    MediaStore(tmp_path / "media", new).decrypt_to_temp("j2", again.wrapped_key).unlink()
    with pytest.raises(crypto.MediaDecryptionError):
        MediaStore(tmp_path / "media", old).decrypt_to_temp("j2", again.wrapped_key)


def test_previous_keks_are_read_from_a_comma_separated_list(tmp_path: Path) -> None:
    current, first, second = (os.urandom(32) for _ in range(3))
    b64 = lambda key: base64.b64encode(key).decode()  # noqa: E731
    ring = crypto.load_keyring(
        b64(current), f" {b64(first)}, ,{b64(second)},{b64(current)},{b64(first)}", tmp_path / "k"
    )
    assert ring.current == current
    # Blank entries are ignored, repeats and the current KEK listed again are dropped.
    assert ring.previous == (first, second)
    assert crypto.load_keyring(b64(current), None, tmp_path / "k").previous == ()
    with pytest.raises(ValueError, match="GATEWAY_JOB_KEK_PREVIOUS entry 2"):
        crypto.load_keyring(b64(current), f"{b64(first)},c2hvcnQ=", tmp_path / "k")
    with pytest.raises(ValueError, match="entry 1: the KEK must be base64"):
        crypto.load_keyring(b64(current), "not base64!", tmp_path / "k")
