"""The gateway reaches Serving over mutual TLS (SSLConfig on the server, certs on the client)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from serving.tls import TEMPLATE, render_ssl_config
from tests import pki
from tests.conftest import MODEL_NAME, start_serving

pytestmark = pytest.mark.slow


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, Path]:
    ca = pki.issue("serving CA", ca=True)
    ca_pem, _ = pki.write(tmp_path, "ca", *ca)
    server = pki.write(tmp_path, "server", *pki.issue("serving", ca, san=pki.LOCALHOST))
    client = pki.write(tmp_path, "client", *pki.issue("gateway", ca))
    return {
        "ca": ca_pem,
        "server_cert": server[0],
        "server_key": server[1],
        "client_cert": client[0],
        "client_key": client[1],
    }


def test_gateway_to_serving_over_mutual_tls(
    certs, model_base, tmp_path, gateway_factory, make_clip
) -> None:
    ssl_config = tmp_path / "ssl.config"
    ssl_config.write_text(
        render_ssl_config(
            Path(TEMPLATE).read_text(),
            certs["server_key"].read_text(),
            certs["server_cert"].read_text(),
            certs["ca"].read_text(),
            client_verify=True,
        )
    )
    credentials = grpc.ssl_channel_credentials(
        root_certificates=certs["ca"].read_bytes(),
        private_key=certs["client_key"].read_bytes(),
        certificate_chain=certs["client_cert"].read_bytes(),
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
            SERVING_TLS_CA=str(certs["ca"]),
            SERVING_TLS_CERT=str(certs["client_cert"]),
            SERVING_TLS_KEY=str(certs["client_key"]),
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
        no_cert = gateway_factory(target, SERVING_TLS_CA=str(certs["ca"]), SERVING_RETRIES="0")
        with no_cert.client() as client:
            response = client.post(
                "/v1/detect",
                headers={**no_cert.auth(), "Content-Type": "video/mp4"},
                content=make_clip("b.mp4", frames=8).read_bytes(),
            )
        assert response.status_code == 503
    finally:
        serving.process.stop()
