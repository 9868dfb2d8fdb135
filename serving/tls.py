"""TLS for the gRPC port from an SSLConfig, and rendering of ``ssl.config.template``.

Follows ``BuildServerCredentialsFromSSLConfigFile`` (model_servers/server.cc):
the key and certificate are the PEM text held in the config; ``custom_ca``
becomes the trusted roots for client certificates; ``client_verify`` requests
and requires a client certificate signed by it (mutual TLS), otherwise no
client certificate is requested.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from google.protobuf import text_encoding

from .config import ConfigError, SSLConfig

TEMPLATE = Path(__file__).with_name("ssl.config.template")
_PLACEHOLDERS = ("SERVER_KEY_PEM", "SERVER_CERT_PEM", "CUSTOM_CA_PEM")


def server_credentials(ssl_config: SSLConfig) -> grpc.ServerCredentials:  # type: ignore[valid-type]
    """gRPC server credentials equivalent to TF Serving's for this SSLConfig."""
    if not ssl_config.server_key or not ssl_config.server_cert:
        raise ConfigError("SSLConfig needs server_key and server_cert (PEM text)")
    if ssl_config.client_verify and not ssl_config.custom_ca:
        # grpc's Python API cannot verify clients against the system roots.
        raise ConfigError("SSLConfig.client_verify needs custom_ca to verify clients against")
    return grpc.ssl_server_credentials(
        [(ssl_config.server_key.encode(), ssl_config.server_cert.encode())],
        root_certificates=ssl_config.custom_ca.encode() or None,
        require_client_auth=ssl_config.client_verify,
    )


def render_ssl_config(
    template: str,
    server_key: str,
    server_cert: str,
    custom_ca: str = "",
    client_verify: bool = False,
) -> str:
    """Fill the template's quoted placeholders with escaped PEM text."""
    text = template
    for placeholder, value in zip(_PLACEHOLDERS, (server_key, server_cert, custom_ca), strict=True):
        quoted = f'"{placeholder}"'
        if quoted not in text:
            raise ConfigError(f"template has no {quoted} placeholder")
        text = text.replace(quoted, '"' + text_encoding.CEscape(value, as_utf8=True) + '"')
    flag = "true" if client_verify else "false"
    text = text.replace("client_verify: false", f"client_verify: {flag}")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m serving.tls render ...``: print an ssl.config built from PEM files."""
    parser = argparse.ArgumentParser(prog="python -m serving.tls")
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="write an SSLConfig text proto to stdout")
    render.add_argument("--key", type=Path, required=True, help="server private key (PEM)")
    render.add_argument("--cert", type=Path, required=True, help="server certificate (PEM)")
    render.add_argument("--ca", type=Path, help="CA that signs client certificates (PEM)")
    render.add_argument("--client-verify", action="store_true", help="require client certs")
    render.add_argument("--template", type=Path, default=TEMPLATE)
    args = parser.parse_args(argv)
    text = render_ssl_config(
        args.template.read_text(),
        args.key.read_text(),
        args.cert.read_text(),
        args.ca.read_text() if args.ca else "",
        args.client_verify,
    )
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
