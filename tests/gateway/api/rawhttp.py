"""HTTP/1.1 over a real TLS socket, for clients no library would be: stalled, trickling."""

from __future__ import annotations

import socket
import ssl


def open_tls(gw, timeout_s: float = 30.0) -> ssl.SSLSocket:  # type: ignore[no-untyped-def]
    """A TLS connection to the gateway ``gw``, certificate verified."""
    host, port = "localhost", int(gw.url.rsplit(":", 1)[1])
    raw = socket.create_connection((host, port), timeout=timeout_s)
    return gw.ssl_context().wrap_socket(raw, server_hostname=host)


def detect_head(
    api_key: str, length: int, content_type: str = "video/mp4", extra: str = ""
) -> bytes:
    """Request line and headers of ``POST /v1/detect`` announcing ``length`` body bytes."""
    return (
        "POST /v1/detect HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {api_key}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


def read_status(tls: ssl.SSLSocket) -> int | None:
    """The status of the answer on ``tls``, or None when the server closed without one.

    A socket timeout propagates: the server neither answered nor closed in time.
    """
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = tls.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionError, ssl.SSLError):
        pass
    return int(data.split()[1]) if data.startswith(b"HTTP/1.1 ") else None
