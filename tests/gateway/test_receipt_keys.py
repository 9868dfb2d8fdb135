"""The receipt signing keys: made on first use (0600), rotated by number, all published."""

from __future__ import annotations

import base64
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.receipt_keys import ReceiptKeys, jwk_thumbprint, public_jwk, rotate_receipt_key


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_thumbprint_is_rfc_8037s_example() -> None:
    # RFC 8037, appendix A.3: the JWK thumbprint of the appendix's Ed25519 public key.
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    key = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "="))
    assert jwk_thumbprint(key) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert public_jwk(key) == {
        "kty": "OKP", "crv": "Ed25519", "x": x, "alg": "EdDSA", "use": "sig",
        "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
    }  # fmt: skip


def test_the_first_use_makes_one_private_key_readable_by_its_owner_alone(tmp_path: Path) -> None:
    directory = tmp_path / "receipt_keys"
    keys = ReceiptKeys(directory)
    key = keys.signing_key()
    assert key.private is not None and key.number == 1
    assert [p.name for p in directory.iterdir()] == ["1.pem"]
    assert _mode(directory / "1.pem") == 0o600
    assert _mode(directory) == 0o700
    # Read again, the same key: it is kept, not made anew.
    assert ReceiptKeys(directory).signing_key().kid == key.kid
    assert keys.jwks() == {"keys": [public_jwk(key.public)]}


def test_rotation_signs_with_the_new_key_and_keeps_only_the_old_public_ones(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "keys"
    keys = ReceiptKeys(directory)
    first = keys.signing_key().kid
    second = rotate_receipt_key(directory)
    third = rotate_receipt_key(directory)
    assert len({first, second, third}) == 3
    # A process that loaded the keys before sees the rotation on its next use.
    assert keys.signing_key().kid == third
    assert [k["kid"] for k in keys.jwks()["keys"]] == [third, second, first]
    assert sorted(p.name for p in directory.iterdir()) == ["1.pub.pem", "2.pub.pem", "3.pem"]
    assert all(_mode(p) == 0o600 for p in directory.iterdir())


def test_a_newest_key_without_its_private_half_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    ReceiptKeys(directory).signing_key()
    rotate_receipt_key(directory)
    (directory / "2.pem").unlink()
    with pytest.raises(ValueError, match="no private key"):
        ReceiptKeys(directory).signing_key()
    # Rotating makes a new newest key, and the old public ones stay published.
    rotate_receipt_key(directory)
    keys = ReceiptKeys(directory)
    assert keys.signing_key().number == 2 and len(keys.jwks()["keys"]) == 2


def test_processes_starting_together_make_one_first_key(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    many = [ReceiptKeys(directory) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        kids = set(pool.map(lambda keys: keys.signing_key().kid, many))
    assert len(kids) == 1
    assert [p.name for p in directory.iterdir()] == ["1.pem"]
