"""TLS and mutual TLS on the gRPC port from an SSLConfig (PEM text inside the config)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from serving.client import wait_until_available
from serving.tls import TEMPLATE, render_ssl_config

from .conftest import predict_version, publish

pytestmark = pytest.mark.slow


def start_tls_server(tmp_path, tiny_model_dir, start_server, tls, client_verify):
    base = tmp_path / "deepfake"
    base.mkdir()
    publish(tiny_model_dir[0], base, 1)
    ssl_config = tmp_path / "ssl.config"
    ssl_config.write_text(
        render_ssl_config(
            Path(TEMPLATE).read_text(),
            tls.server_key,
            tls.server_cert,
            tls.ca_cert,
            client_verify=client_verify,
        )
    )
    server = start_server(
        "--model_name=deepfake", f"--model_base_path={base}", f"--ssl_config_file={ssl_config}"
    )
    return server


def secure(server, root: str, key: str | None = None, cert: str | None = None):
    credentials = grpc.ssl_channel_credentials(
        root_certificates=root.encode(),
        private_key=key.encode() if key else None,
        certificate_chain=cert.encode() if cert else None,
    )
    return credentials, grpc.secure_channel(server.target, credentials)


def wait_tls(server, credentials):
    # wait_until_available retries through the start-up; fail fast if the process died.
    if server.proc.poll() is not None:
        pytest.fail(server.log())
    return wait_until_available(server.target, "deepfake", 120, credentials=credentials)


def test_tls(tmp_path, tiny_model_dir, start_server, tls_material):
    tls = tls_material
    server = start_tls_server(tmp_path, tiny_model_dir, start_server, tls, client_verify=False)
    credentials, channel = secure(server, tls.ca_cert)
    assert wait_tls(server, credentials) == 1
    with channel:
        assert predict_version(channel) == 1
    with server.channel() as plaintext, pytest.raises(grpc.RpcError) as info:
        predict_version(plaintext)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    # A client that does not trust the server's CA refuses the connection.
    _, untrusting = secure(server, tls.other_ca)
    with untrusting, pytest.raises(grpc.RpcError) as info:
        predict_version(untrusting)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls(tmp_path, tiny_model_dir, start_server, tls_material):
    tls = tls_material
    server = start_tls_server(tmp_path, tiny_model_dir, start_server, tls, client_verify=True)
    credentials, channel = secure(server, tls.ca_cert, tls.client_key, tls.client_cert)
    assert wait_tls(server, credentials) == 1
    with channel:
        assert predict_version(channel) == 1
    _, anonymous = secure(server, tls.ca_cert)
    with anonymous, pytest.raises(grpc.RpcError) as info:
        predict_version(anonymous)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    _, rogue = secure(server, tls.ca_cert, tls.rogue_key, tls.rogue_cert)
    with rogue, pytest.raises(grpc.RpcError) as info:
        predict_version(rogue)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_bad_ssl_config_stops_start_up(tmp_path, start_server):
    ssl_config = tmp_path / "ssl.config"
    ssl_config.write_text('server_key: "x"\nserver_cert: "y"\nclient_verfy: true\n')
    server = start_server(
        "--model_name=deepfake", f"--model_base_path={tmp_path}", f"--ssl_config_file={ssl_config}"
    )
    server.expected_exit = 255
    assert server.proc.wait(timeout=120) == 255
    assert "Invalid protobuf file" in server.log()
