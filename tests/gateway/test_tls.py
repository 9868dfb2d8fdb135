"""The gateway's TLS offer, probed from a real client against the real gateway."""

from __future__ import annotations

import socket
import ssl

import pytest


def _handshake(gateway, ctx: ssl.SSLContext) -> ssl.SSLSocket | None:  # type: ignore[no-untyped-def]
    """The negotiated connection's parameters, or None when the gateway refused."""
    host, port = "localhost", int(gateway.url.rsplit(":", 1)[1])
    with socket.create_connection((host, port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                return tls.version(), tls.cipher(), tls.compression()
        except (ssl.SSLError, ConnectionResetError):
            return None


def _tls12_client(gateway, cipher: str) -> ssl.SSLContext:  # type: ignore[no-untyped-def]
    ctx = gateway.ssl_context()
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    # Security level 0 lets the client offer the weak suites a scanner would try.
    ctx.set_ciphers(f"{cipher}:@SECLEVEL=0")
    return ctx


def _client_tls12_suites() -> list[str]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    return sorted(
        {
            c["name"]
            for c in ctx.get_ciphers()
            if c["protocol"] == "TLSv1.2" or "TLSv1.0" in c["protocol"]
        }
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_only_forward_secret_aead_suites_in_tls_1_2(gateway) -> None:
    accepted = []
    for suite in _client_tls12_suites():
        try:
            ctx = _tls12_client(gateway, suite)
        except ssl.SSLError:
            continue  # this OpenSSL cannot offer it at all
        result = _handshake(gateway, ctx)
        if result is not None:
            accepted.append(result[1][0])
    assert accepted, "no TLS 1.2 suite was accepted"
    # Forward secrecy (ephemeral ECDH) and an AEAD cipher, nothing else.
    weak = [
        s for s in accepted if not s.startswith("ECDHE-") or not ("GCM" in s or "CHACHA20" in s)
    ]
    assert not weak, f"TLS 1.2 accepts {weak}"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_cbc_suite_is_refused(gateway) -> None:
    assert _handshake(gateway, _tls12_client(gateway, "ECDHE-ECDSA-AES128-SHA")) is None
    assert _handshake(gateway, _tls12_client(gateway, "ECDHE-ECDSA-AES128-SHA256")) is None


def test_tls_1_3_is_offered_without_compression(gateway) -> None:
    ctx = gateway.ssl_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    result = _handshake(gateway, ctx)
    assert result is not None
    version, _cipher, compression = result
    assert version == "TLSv1.3"
    assert compression is None
