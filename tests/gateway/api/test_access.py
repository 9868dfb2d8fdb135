"""Access control: hashed keys, revocation, client certificates."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import httpx
import pytest

from gateway.api.auth import ApiKeyVerifier
from gateway.errors import InvalidApiKey, MissingApiKey
from tests import pki


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


@pytest.mark.slow
def test_client_certificates_when_a_client_ca_is_set(gateway_factory, serving, tmp_path) -> None:
    ca = pki.issue("test client CA", ca=True)
    ca_pem, _ = pki.write(tmp_path, "ca", *ca)
    client = pki.write(tmp_path, "client", *pki.issue("client app", ca))
    gw = gateway_factory(serving.target, client_cert=client, GATEWAY_TLS_CLIENT_CA=str(ca_pem))
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
