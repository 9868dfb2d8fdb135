"""The job routes' parameters: query, ``Prefer`` and ``Idempotency-Key``, and the callback URL.

The real routes of :mod:`gateway.api.jobs_routes` (``POST /v1/jobs``, ``GET /v1/jobs``) run in
a FastAPI app with the gateway's error handlers, so FastAPI's validation of the declared
parameters (:func:`gateway.api.params.detect_params`), the metadata pairs, the
idempotency key and the cursor are the gateway's own. The job service is a stand-in whose
callback check is :meth:`gateway.jobs.service.JobService.check_callback` itself
(:func:`gateway.jobs.ssrf.resolve_callback` with the default policy): the request stops
there, before anything is received or stored. Names are resolved by a fake resolver that
answers from a fixed table of addresses (loopback, private, mapped, global...) picked by
the name's hash, so no lookup leaves the process. ``Prefer`` goes through
:func:`gateway.api.jobs_routes.parse_prefer` too, as the detect route reads it.

An input is one flag byte (bit 0: list jobs instead of submitting; bit 1: a JSON body),
then lines: the query string, the ``Prefer`` header, the ``Idempotency-Key`` header, and
with bit 1 the rest of the input is the JSON body of a media URL job
(:mod:`gateway.api.jobs_url_request`). Bytes an HTTP/1.1 server refuses in a request target or
a header are dropped first. A JSON body that passes its checks has its ``media_url``
checked as the job's fetch checks it before connecting
(:func:`gateway.jobs.fetch.check_media_url`, the same fake resolver): a refusal must be a
``MediaNotAllowed`` or ``MediaUnreachable``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import types
from typing import Any

from fastapi import FastAPI

from gateway.api.deps import api_key_id
from gateway.api.error_responses import install_error_handlers
from gateway.api.jobs_routes import parse_prefer, router
from gateway.errors import MediaNotAllowed, MediaUnreachable
from gateway.job_settings import JobSettings
from gateway.jobs import ssrf
from gateway.jobs.fetch import check_media_url
from gateway.jobs.schemas import MediaUrlJob
from gateway.jobs.service import JobService
from gateway.jobs.ssrf import CallbackPolicy
from gateway.settings import Settings

#: Statuses the routes document for these requests before any upload is read.
EXPECTED_STATUSES = {200, 400, 422}
#: What the fake resolver answers, one entry picked per name (empty: the name does not resolve).
ANSWERS: tuple[tuple[str, ...], ...] = (
    (),
    ("93.184.215.14",),
    ("10.0.0.1",),
    ("127.0.0.1", "93.184.215.14"),
    ("2606:2800:21f:cb07:6820:80da:af6b:8b2c",),
    ("fe80::1%eth0",),
    ("::ffff:10.0.0.1",),
    ("100.64.1.1",),
    ("169.254.169.254",),
)
#: Bytes h11 lets through in a request target, and refuses in a header value.
#: The job settings' defaults (the environment is not read).
_DEFAULT_JOB_SETTINGS = JobSettings.model_construct()
_NOT_IN_TARGET = re.compile(rb"[^\x21-\x7e]")
_NOT_IN_HEADER = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class _Checked(Exception):
    """The callback passed its check: the submission would now read the upload."""


class _Store:
    """The webhook secret exists, so the callback check stops only for the URL."""

    def get_secret(self, owner: str) -> bytes:
        return b"secret"

    def list_jobs(self, *args: object) -> list[Any]:
        return []


class _Jobs:
    """The job service, as far as the routes get before the upload."""

    def __init__(self) -> None:
        self.policy = CallbackPolicy(allowed_ports=_DEFAULT_JOB_SETTINGS.allowed_ports)
        self.store = _Store()

    async def check_callback(self, owner: str, callback_url: str | None) -> None:
        await JobService.check_callback(self, owner, callback_url)  # type: ignore[arg-type]
        raise _Checked

    async def list(self, owner: str, limit: int, before: object) -> list[Any]:
        return []


def _answer(host: Any, port: Any) -> list[Any]:
    name = host.encode("idna") if isinstance(host, str) else bytes(host)
    answer = ANSWERS[hashlib.sha256(name).digest()[0] % len(ANSWERS)]
    if not answer:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    family = {True: socket.AF_INET6, False: socket.AF_INET}
    return [(family[":" in a], socket.SOCK_STREAM, 6, "", (a, port)) for a in answer]


#: What :mod:`gateway.jobs.ssrf` sees as ``socket`` while a media URL is checked: the
#: real module but for its resolver (swapped in for the call only, as the seeds are
#: replayed in the test suite's own process).
_FAKE_SOCKET = types.SimpleNamespace(
    getaddrinfo=lambda host, port, **kwargs: _answer(host, port),
    gaierror=socket.gaierror,
    SOCK_STREAM=socket.SOCK_STREAM,
)


def _check_media_url(url: str) -> None:
    real = ssrf.socket
    ssrf.socket = _FAKE_SOCKET  # type: ignore[assignment]
    try:
        check_media_url(url, APP.state.jobs.policy)
    except (MediaNotAllowed, MediaUnreachable):
        pass
    finally:
        ssrf.socket = real


class _Loop(asyncio.SelectorEventLoop):
    """An event loop whose resolver answers from :data:`ANSWERS`, never the network."""

    async def getaddrinfo(self, host: Any, port: Any, **kwargs: Any) -> list[Any]:  # type: ignore[override]
        return _answer(host, port)


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.dependency_overrides[api_key_id] = lambda: "fuzz-key"
    app.state.jobs = _Jobs()
    app.state.settings = Settings.model_construct()  # the defaults; the environment is not read

    @app.exception_handler(_Checked)
    async def checked(request: object, exc: Exception) -> Any:
        from fastapi.responses import JSONResponse

        return JSONResponse({"checked": True}, status_code=200)

    return app


APP = _app()
_RUNNER = asyncio.Runner(loop_factory=_Loop)


async def _call(
    method: str, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": "/v1/jobs",
        "raw_path": b"/v1/jobs",
        "root_path": "",
        "query_string": query,
        "headers": headers,
        "server": ("localhost", 8443),
        "client": ("127.0.0.1", 40000),
    }
    await APP(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body


def TestOneInput(data: bytes) -> None:
    """Send the job request ``data`` describes; only documented client errors are expected."""
    flags = data[0] if data else 0
    lines = data[1:].split(b"\n", 3)
    query = _NOT_IN_TARGET.sub(b"", lines[0])
    # A header is sent when its line is there, even empty.
    values = [_NOT_IN_HEADER.sub(b"", line).strip() for line in lines[1:3]]
    headers = list(zip((b"prefer", b"idempotency-key"), values, strict=False))
    for name, value in headers:
        if name == b"prefer":
            parse_prefer(value.decode("latin-1"))
    json_body = bool(flags & 2) and not flags & 1
    body = lines[3] if json_body and len(lines) > 3 else b""
    if json_body:
        headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(body)).encode()))
    method = "GET" if flags & 1 else "POST"
    status, answer_bytes = _RUNNER.run(_call(method, query, headers, body))
    assert status in EXPECTED_STATUSES, (status, answer_bytes[:500])
    answer = json.loads(answer_bytes)
    if status != 200:
        assert set(answer) == {"error"} and {"code", "message"} <= set(answer["error"])
    elif json_body:
        # Accepted as far as the callback: the job's fetch checks the media URL next.
        _check_media_url(MediaUrlJob.model_validate_json(body).media_url)
