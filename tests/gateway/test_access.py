"""Access control: hashed keys, revocation, client certificates."""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.auth import ApiKeyVerifier
from gateway.errors import InvalidApiKey, MissingApiKey


def test_keys_are_held_as_hashes_only() -> None:
    verifier = ApiKeyVerifier.from_config(
        "alpha,sha256:" + hashlib.sha256(b"beta").hexdigest(), Path("/nonexistent")
    )
    verifier.verify("Bearer alpha")
    verifier.verify("Bearer beta")
    assert all(isinstance(h, bytes) and len(h) == 32 for h in verifier._hashes)
    assert b"alpha" not in b"".join(verifier._hashes)
    with pytest.raises(InvalidApiKey):
        verifier.verify("Bearer gamma")
    with pytest.raises(MissingApiKey):
        verifier.verify(None)


def _write_pem(path: Path, obj: object) -> None:
    if isinstance(obj, x509.Certificate):
        path.write_bytes(obj.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(
            obj.private_bytes(  # type: ignore[attr-defined]
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def _issue(subject: str, issuer_key, issuer_name, *, ca: bool):  # type: ignore[no-untyped-def]
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key or key, hashes.SHA256())
    )
    return key, cert


@pytest.mark.slow
def test_client_certificates_when_a_client_ca_is_set(gateway_factory, serving, tmp_path) -> None:
    ca_key, ca_cert = _issue("test client CA", None, None, ca=True)
    client_key, client_cert = _issue("client app", ca_key, ca_cert.subject, ca=False)
    _write_pem(tmp_path / "ca.pem", ca_cert)
    _write_pem(tmp_path / "client.pem", client_cert)
    _write_pem(tmp_path / "client.key", client_key)
    gw = gateway_factory(
        serving.target,
        client_cert=(tmp_path / "client.pem", tmp_path / "client.key"),
        GATEWAY_TLS_CLIENT_CA=str(tmp_path / "ca.pem"),
    )
    with httpx.Client(base_url=gw.url, verify=gw.ssl_context(), timeout=30) as client:
        assert client.get("/healthz").status_code == 200
    without_cert = ssl.create_default_context(cafile=str(gw.cafile))

    with (
        pytest.raises(
            (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, ssl.SSLError)
        ),
        httpx.Client(base_url=gw.url, verify=without_cert, timeout=30) as client,
    ):
        client.get("/healthz")
