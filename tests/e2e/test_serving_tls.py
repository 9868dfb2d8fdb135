"""The gateway reaches Serving over mutual TLS (SSLConfig on the server, certs on the client)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from serving.tls import TEMPLATE, render_ssl_config
from tests.conftest import MODEL_NAME, start_serving

pytestmark = pytest.mark.slow


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(subject: str, key, issuer_key, issuer, *, ca: bool, san=None):  # type: ignore[no-untyped-def]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("serving CA", ca_key, None, None, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert(
        "serving",
        server_key,
        ca_key,
        ca.subject,
        ca=False,
        san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("gateway", client_key, ca_key, ca.subject, ca=False)
    files = {
        "ca": (tmp_path / "ca.pem", ca.public_bytes(serialization.Encoding.PEM)),
        "server_cert": (tmp_path / "server.pem", server.public_bytes(serialization.Encoding.PEM)),
        "server_key": (tmp_path / "server.key", _pem_key(server_key)),
        "client_cert": (tmp_path / "client.pem", client.public_bytes(serialization.Encoding.PEM)),
        "client_key": (tmp_path / "client.key", _pem_key(client_key)),
    }
    for path, data in files.values():
        path.write_bytes(data)
    return {k: v[0] for k, v in files.items()}


def test_gateway_to_serving_over_mutual_tls(
    pki, model_base, tmp_path, gateway_factory, make_clip
) -> None:
    ssl_config = tmp_path / "ssl.config"
    ssl_config.write_text(
        render_ssl_config(
            Path(TEMPLATE).read_text(),
            pki["server_key"].read_text(),
            pki["server_cert"].read_text(),
            pki["ca"].read_text(),
            client_verify=True,
        )
    )
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].read_bytes(),
        private_key=pki["client_key"].read_bytes(),
        certificate_chain=pki["client_cert"].read_bytes(),
    )
    serving = start_serving(
        model_base / MODEL_NAME,
        tmp_path / "serving.log",
        extra=(f"--ssl_config_file={ssl_config}",),
        credentials=credentials,
    )
    try:
        target = f"localhost:{serving.port}"
        gw = gateway_factory(
            target,
            SERVING_TLS_CA=str(pki["ca"]),
            SERVING_TLS_CERT=str(pki["client_cert"]),
            SERVING_TLS_KEY=str(pki["client_key"]),
        )
        with gw.client() as client:
            response = client.post(
                "/v1/detect",
                headers={**gw.auth(), "Content-Type": "video/mp4"},
                content=make_clip(frames=8).read_bytes(),
            )
            assert response.status_code == 200, response.text
            assert client.get("/readyz").status_code == 200

        # Without a client certificate Serving refuses the gateway.
        no_cert = gateway_factory(target, SERVING_TLS_CA=str(pki["ca"]), SERVING_RETRIES="0")
        with no_cert.client() as client:
            response = client.post(
                "/v1/detect",
                headers={**no_cert.auth(), "Content-Type": "video/mp4"},
                content=make_clip("b.mp4", frames=8).read_bytes(),
            )
        assert response.status_code == 503
    finally:
        serving.process.stop()
