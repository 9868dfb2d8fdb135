"""An HTTPS webhook receiver on loopback that records every delivery (tests and the soak)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests import pki


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTPS server on 127.0.0.1 that records every POST and answers from a script."""

    url: str
    port: int
    ca_file: Path
    received: list[Received] = field(default_factory=list)
    #: Status codes to answer, in order; once used up, 204.
    script: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Cleared, requests are recorded at once but answered only once it is set again: a
    #: delivery held in flight (at most a minute).
    answering: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.answering.set()

    def wait_for(self, count: int, timeout_s: float = 60.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.1)
        raise AssertionError(f"{len(self.received)} webhooks received, expected {count}")

    def reset(self, script: list[int] | None = None) -> None:
        with self.lock:
            self.received.clear()
            self.script[:] = script or []
        self.answering.set()

    def bodies(self) -> list[dict]:
        with self.lock:
            return [json.loads(r.body) for r in self.received]


def start_receiver(folder: Path) -> tuple[Receiver, ThreadingHTTPServer]:
    """A loopback HTTPS webhook receiver with a certificate for ``localhost``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = pki.issue("receiver CA", ca=True)
    ca_file, _ = pki.write(folder, "receiver-ca", *ca)
    cert, key = pki.write(folder, "receiver", *pki.issue("localhost", ca, san=pki.LOCALHOST))
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            rec = state["r"]
            with rec.lock:
                rec.received.append(Received(self.path, dict(self.headers.items()), body))
                status = rec.script.pop(0) if rec.script else 204
            rec.answering.wait(timeout=60)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    state["r"] = Receiver(f"https://localhost:{port}/hook", port, ca_file)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state["r"], server
