"""A plain HTTP server on loopback serving media URLs for the fetch tests, from a route table."""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class MediaServer:
    """``http://127.0.0.1:<port>``; ``routes`` maps a path to what answers it."""

    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    requested: list[str] = field(default_factory=list)

    #: ``http://127.0.0.1``, or ``https://localhost`` for a server with a certificate.
    base: str = "http://127.0.0.1"

    def url(self, path: str) -> str:
        return f"{self.base}:{self.port}{path}"


def start_media_server(
    tls: ssl.SSLContext | None = None,
) -> tuple[MediaServer, ThreadingHTTPServer]:
    """The server and its thread's handle (``shutdown()`` it); HTTPS when ``tls`` is given."""
    state: dict[str, MediaServer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            server = state["s"]
            server.requested.append(self.path)
            route = server.routes.get(self.path)
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            # The gateway hangs up past a limit, as it should.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                route(self)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    base = "https://localhost" if tls is not None else "http://127.0.0.1"
    state["s"] = MediaServer(httpd.server_address[1], base=base)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return state["s"], httpd


def serve_bytes(data: bytes, content_type: str = "video/mp4") -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    return route


def declare_length(length: int) -> Route:
    """Says ``length`` bytes up front (and sends a few)."""

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Content-Length", str(length))
        h.end_headers()
        h.wfile.write(b"\0" * 1024)

    return route


def stream_without_length(total: int, chunk: int = 64 * 1024) -> Route:
    """``total`` bytes with no Content-Length: the end is the connection closing."""

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        sent = 0
        while sent < total:
            h.wfile.write(b"\0" * chunk)
            sent += chunk

    return route


def drip(every_s: float, chunk: int = 64, for_s: float = 30.0) -> Route:
    """A few bytes every ``every_s``: never idle long, always too slow."""

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        end = time.monotonic() + for_s
        while time.monotonic() < end:
            h.wfile.write(b"\0" * chunk)
            h.wfile.flush()
            time.sleep(every_s)

    return route


def redirect(location: str, status: int = 302) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route
