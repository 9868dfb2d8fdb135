"""Uploads are streamed to disk within limits and never left behind."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.gateway.api.rawhttp import detect_head, open_tls, read_status

pytestmark = pytest.mark.slow

MIB = 1024 * 1024


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _uploads(gateway) -> list[Path]:  # type: ignore[no-untyped-def]
    folder = gateway.var_dir / "uploads"
    return list(folder.iterdir()) if folder.exists() else []


def test_oversize_upload_gets_413_while_streaming(gateway_factory, serving) -> None:
    gw = gateway_factory(serving.target, GATEWAY_MAX_UPLOAD_BYTES=str(1 * MIB))

    sent = 0

    def body():  # type: ignore[no-untyped-def]
        nonlocal sent
        chunk = b"\0" * (256 * 1024)
        for _ in range(400):  # 100 MiB if nobody stops us
            sent += len(chunk)
            yield chunk

    with gw.client() as client:
        response = client.post(
            "/v1/detect", headers={**gw.auth(), "Content-Type": "video/mp4"}, content=body()
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload_too_large"
    assert _uploads(gw) == []


def test_declared_oversize_is_refused_before_reading(gateway_factory, serving, make_clip) -> None:
    gw = gateway_factory(serving.target, GATEWAY_MAX_UPLOAD_BYTES="1000")
    clip = make_clip(frames=30)
    with gw.client() as client:
        response = client.post(
            "/v1/detect",
            headers={**gw.auth(), "Content-Type": "video/mp4"},
            content=clip.read_bytes(),
        )
    assert response.status_code == 413
    assert "1000" in response.json()["error"]["message"]


def test_large_upload_memory_stays_flat(gateway_factory, serving, make_clip) -> None:
    """The body goes to disk: peak RSS grows by a small fraction of the upload size."""
    gw = gateway_factory(serving.target, GATEWAY_MAX_UPLOAD_BYTES=str(400 * MIB))
    clip = make_clip(frames=30).read_bytes()
    padding = 160 * MIB

    def body():  # type: ignore[no-untyped-def]
        # A real MP4 followed by trailing bytes the demuxer ignores.
        yield clip
        chunk = b"\0" * MIB
        for _ in range(padding // MIB):
            yield chunk

    with gw.client() as client:
        warm = client.post(
            "/v1/detect", headers={**gw.auth(), "Content-Type": "video/mp4"}, content=clip
        )
        assert warm.status_code == 200, warm.text
        before = _vm_hwm_kib(gw.process.pid)
        response = client.post(
            "/v1/detect", headers={**gw.auth(), "Content-Type": "video/mp4"}, content=body()
        )
    after = _vm_hwm_kib(gw.process.pid)
    assert response.status_code == 200, response.text
    growth = (after - before) * 1024
    assert growth < 0.1 * padding, f"peak RSS grew by {growth / MIB:.1f} MiB for a 160 MiB upload"
    assert _uploads(gw) == []


def test_client_disconnect_mid_upload_leaves_no_file(gateway, make_clip) -> None:
    host, port = "localhost", int(gateway.url.rsplit(":", 1)[1])
    ctx = gateway.ssl_context()
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(
            (
                "POST /v1/detect HTTP/1.1\r\n"
                f"Host: {host}\r\n"
                f"Authorization: Bearer {gateway.api_key}\r\n"
                "Content-Type: video/mp4\r\n"
                f"Content-Length: {50 * MIB}\r\n\r\n"
            ).encode()
        )
        tls.sendall(b"\0" * MIB)
        # Wait until the gateway has started writing the temporary file.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _uploads(gateway):
            time.sleep(0.05)
        assert _uploads(gateway), "upload never reached the disk"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _uploads(gateway):
        time.sleep(0.1)
    assert _uploads(gateway) == []
    with gateway.client() as client:
        assert client.get("/healthz").status_code == 200


def test_truncated_upload_gets_a_clear_error(gateway, make_clip) -> None:
    data = make_clip(frames=60).read_bytes()
    with gateway.client() as client:
        response = client.post(
            "/v1/detect",
            headers={**gateway.auth(), "Content-Type": "video/mp4"},
            content=data[: len(data) // 2],
        )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "invalid_video"
    assert _uploads(gateway) == []


def test_limits_are_named_in_422(gateway_factory, serving, make_clip) -> None:
    gw = gateway_factory(serving.target, GATEWAY_MAX_DURATION_S="1.0")
    with gw.client() as client:
        response = client.post(
            "/v1/detect",
            headers={**gw.auth(), "Content-Type": "video/mp4"},
            content=make_clip(frames=90, fps=30).read_bytes(),
        )
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "video_limit_exceeded"
    assert "duration" in body["message"]


def test_stalled_uploads_do_not_deny_service(gateway_factory, serving, make_clip) -> None:
    """Connections that send headers and then nothing neither hold analysis slots nor stay."""
    idle_s = 3.0
    # The per-key cap raised: this is about receiving apart from analysis, with one key.
    gw = gateway_factory(
        serving.target,
        GATEWAY_UPLOAD_IDLE_TIMEOUT_S=str(idle_s),
        GATEWAY_MAX_IN_FLIGHT_PER_KEY="20",
    )
    stalled = []
    try:
        opened = time.monotonic()
        for _ in range(10):  # as many as GATEWAY_MAX_IN_FLIGHT + GATEWAY_MAX_QUEUE
            tls = open_tls(gw)
            tls.sendall(detect_head(gw.api_key, 1_000_000))
            stalled.append(tls)
        time.sleep(0.5)
        response = gw.detect(make_clip(frames=5))
        assert response.status_code == 200, response.text
        for tls in stalled:
            tls.settimeout(max(0.1, opened + idle_s + 5 - time.monotonic()))
            assert read_status(tls) in (408, None)
    finally:
        for tls in stalled:
            tls.close()
    assert _uploads(gw) == []


def test_trickling_upload_gets_408(gateway_factory, serving) -> None:
    gw = gateway_factory(serving.target, GATEWAY_UPLOAD_GRACE_S="1")
    stop = threading.Event()
    with open_tls(gw, timeout_s=15) as tls:
        tls.sendall(detect_head(gw.api_key, 1_000_000))

        def trickle() -> None:  # 64 bytes a second
            with contextlib.suppress(OSError):
                while not stop.wait(0.25):
                    tls.sendall(b"\0" * 16)

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        try:
            assert read_status(tls) == 408
        finally:
            stop.set()
            thread.join(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _uploads(gw):
        time.sleep(0.1)
    assert _uploads(gw) == []


def _multipart(parts: list[tuple[bytes, bytes]], boundary: bytes = b"bnd") -> bytes:
    """A multipart body from (part headers, part data) pairs."""
    out = b""
    for headers, data in parts:
        out += b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def _post_multipart(gw, body: bytes):  # type: ignore[no-untyped-def]
    with gw.client() as client:
        return client.post(
            "/v1/detect",
            headers={**gw.auth(), "Content-Type": "multipart/form-data; boundary=bnd"},
            content=body,
        )


def test_form_with_many_parts_gets_400(gateway, make_clip) -> None:
    fields = [(f'Content-Disposition: form-data; name="f{i}"'.encode(), b"x") for i in range(200)]
    video = (b'Content-Disposition: form-data; name="video"', make_clip(frames=5).read_bytes())
    response = _post_multipart(gateway, _multipart([*fields, video]))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert "parts" in response.json()["error"]["message"]
    assert _uploads(gateway) == []


def test_oversized_part_headers_get_400(gateway, make_clip) -> None:
    headers = b'Content-Disposition: form-data; name="video"\r\nX-Pad: ' + b"a" * 64 * 1024
    response = _post_multipart(gateway, _multipart([(headers, make_clip(frames=5).read_bytes())]))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert _uploads(gateway) == []


def test_malformed_multipart_answer_carries_no_library_text(gateway) -> None:
    response = _post_multipart(gateway, b"--bnd\r\n\x01bad: y\r\n\r\nxx\r\n--bnd--\r\n")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "bad_request",
        "message": "malformed multipart body",
    }


@pytest.mark.parametrize("filename", [b"../../etc/x", b"a\0b/../../x.mp4", b"/tmp/abs-x"])
def test_client_file_names_never_reach_the_file_system(
    gateway_factory, serving, make_clip, tmp_path, filename
) -> None:
    gw = gateway_factory(serving.target)
    before = {p for p in tmp_path.parent.rglob("*")}
    headers = b'Content-Disposition: form-data; name="video"; filename="' + filename + b'"'
    response = _post_multipart(gw, _multipart([(headers, make_clip(frames=5).read_bytes())]))
    assert response.status_code == 200, response.text
    created = {p for p in tmp_path.parent.rglob("*")} - before
    assert not [p for p in created if p.name in ("x", "x.mp4", "abs-x")]
    assert not Path("/tmp/abs-x").exists()
    assert _uploads(gw) == []
