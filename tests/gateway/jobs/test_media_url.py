"""Jobs from media URLs end to end: a real gateway over HTTPS and local Serving fetching from
a plain HTTP server on loopback (allowed by the tests-only loopback setting)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.clients.conftest import DEEPFAKE
from tests.conftest import GatewayHandle, start_gateway, wait_for
from tests.videos import write_clip

from .helpers import KEY_A, Jobs
from .media_server import (
    MediaServer,
    declare_length,
    drip,
    redirect,
    serve_bytes,
    start_media_server,
    stream_without_length,
)

pytestmark = pytest.mark.slow

MAX_BYTES = 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[MediaServer]:
    found, httpd = start_media_server()
    yield found
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", frames=30).read_bytes()


@pytest.fixture(scope="module")
def gw(serving, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """A gateway whose jobs may fetch from loopback, with small limits to test against."""
    handle = start_gateway(
        tmp_path_factory.mktemp("media-url-gw"),
        serving.target,
        {
            "GATEWAY_API_KEYS": KEY_A,
            "GATEWAY_WEBHOOK_ALLOW_LOOPBACK": "true",
            "GATEWAY_JOB_POLL_S": "0.1",
            "GATEWAY_MAX_UPLOAD_BYTES": str(MAX_BYTES),
            "GATEWAY_UPLOAD_MIN_BYTES_PER_S": "4096",
            "GATEWAY_UPLOAD_GRACE_S": "1",
            "GATEWAY_MEDIA_MAX_REDIRECTS": "2",
            # A fetched medium is never kept, even so: its key lived only in the run.
            "GATEWAY_JOB_KEEP_MEDIA": "true",
        },
    )
    yield handle
    handle.process.stop()


def submit_url(jobs: Jobs, body: dict, **kwargs: object) -> httpx.Response:
    return jobs.call("POST", "/v1/jobs", json=body, **kwargs)


def left_on_disk(gw: GatewayHandle) -> list[str]:
    """Files of job media (encrypted, partial or decrypted) and temporary uploads."""
    folders = [gw.var_dir / "jobs" / "media", gw.var_dir / "uploads"]
    return sorted(str(p) for d in folders if d.exists() for p in d.rglob("*") if p.is_file())


def run_url(jobs: Jobs, url: str, **options: object) -> dict:
    response = submit_url(jobs, {"media_url": url, **options})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["input"]["media_url"] == url
    return jobs.wait(job["id"])


def test_a_video_url_job_completes_with_a_verdict(
    gw: GatewayHandle, server: MediaServer, clip: bytes
) -> None:
    server.routes["/v/clip.mp4"] = serve_bytes(clip, "application/octet-stream")
    job = run_url(Jobs(gw), server.url("/v/clip.mp4"), frames=8, metadata={"case": "A-17"})
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["verdict"] in ("real", "fake", "inconclusive")
    assert job["result"]["video"]["kind"] == "video"
    assert job["parameters"] == {"frames": 8}
    assert job["metadata"] == {"case": "A-17"}
    assert job["input"]["size_bytes"] == len(clip)
    assert job["input"]["sha256"] == hashlib.sha256(clip).hexdigest()
    wait_for(lambda: left_on_disk(gw) == [], "the job's media removed")
    replay = Jobs(gw).call("POST", f"/v1/jobs/{job['id']}/replay", params={"model_version": 1})
    assert replay.status_code == 410
    assert replay.json()["error"]["code"] == "job_media_gone"


def test_an_image_url_job_completes(gw: GatewayHandle, server: MediaServer) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (120, 90, 60)).save(buffer, "JPEG")
    # Whatever type the server claims, the bytes decide.
    server.routes["/i/photo"] = serve_bytes(buffer.getvalue(), "text/plain")
    job = run_url(Jobs(gw), server.url("/i/photo"))
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["video"]["kind"] == "image"
    assert job["result"]["frames_analyzed"] == 1


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/f/declared-huge", "media_too_large"),
        ("/f/endless", "media_too_large"),
        ("/f/drip", "media_unreachable"),
        ("/f/to-10", "media_not_allowed"),
        ("/f/to-metadata", "media_not_allowed"),
        ("/f/hop3", "media_not_allowed"),
        ("/f/to-ftp", "media_not_allowed"),
        ("/f/missing", "media_unreachable"),
        ("/f/html", "unsupported_media"),
    ],
)
def test_a_failed_fetch_fails_the_job_with_its_code_and_leaves_nothing(
    gw: GatewayHandle, server: MediaServer, path: str, code: str
) -> None:
    server.routes.update(
        {
            "/f/declared-huge": declare_length(50 * MAX_BYTES),
            "/f/endless": stream_without_length(20 * MAX_BYTES),
            "/f/drip": drip(every_s=0.1, chunk=32),
            "/f/to-10": redirect("http://10.0.0.1/clip.mp4"),
            "/f/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
            "/f/hop1": redirect("/f/small"),
            "/f/hop2": redirect("/f/hop1"),
            "/f/hop3": redirect("/f/hop2"),
            "/f/small": serve_bytes(b"\0" * 100),
            "/f/to-ftp": redirect("ftp://example.com/clip.mp4"),
            "/f/html": serve_bytes(b"<!doctype html><title>x</title><p>not a video", "video/mp4"),
        }
    )
    job = run_url(Jobs(gw), server.url(path))
    assert job["status"] == "failed"
    assert job["error"]["code"] == code, job["error"]
    assert job["result"] is None
    wait_for(lambda: left_on_disk(gw) == [], "nothing of the failed fetch left on disk")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/clip.mp4"])
def test_other_schemes_fail_as_not_allowed(gw: GatewayHandle, url: str) -> None:
    job = run_url(Jobs(gw), url)
    assert job["error"]["code"] == "media_not_allowed"
    assert "http:// or https://" in job["error"]["message"]


def test_an_upload_and_a_media_url_together_or_neither_are_refused(
    gw: GatewayHandle, server: MediaServer, clip: bytes
) -> None:
    jobs = Jobs(gw)
    server.routes["/v/clip.mp4"] = serve_bytes(clip)
    url = server.url("/v/clip.mp4")
    neither = submit_url(jobs, {"frames": 8})
    assert neither.status_code == 422
    assert neither.json()["error"]["code"] == "validation_error"
    assert "media_url" in neither.json()["error"]["message"]
    empty = jobs.call("POST", "/v1/jobs", headers={"Content-Type": "application/json"})
    assert empty.status_code == 422
    form = jobs.call("POST", "/v1/jobs", files={"video": clip}, data={"media_url": url})
    assert form.status_code == 400
    assert "not both" in form.json()["error"]["message"]
    raw = jobs.call(
        "POST",
        "/v1/jobs",
        params={"media_url": url},
        headers={"Content-Type": "video/mp4"},
        content=clip,
    )
    assert raw.status_code == 400
    mixed = submit_url(jobs, {"media_url": url}, params={"frames": 8})
    assert mixed.status_code == 400
    unknown = submit_url(jobs, {"media_url": url, "frame": 8})
    assert unknown.status_code == 422
    wait_for(lambda: left_on_disk(gw) == [], "no refused upload left on disk")


def test_the_same_idempotency_key_and_url_replays_the_job(
    gw: GatewayHandle, server: MediaServer, clip: bytes
) -> None:
    jobs = Jobs(gw)
    server.routes["/v/clip.mp4"] = serve_bytes(clip)
    body = {"media_url": server.url("/v/clip.mp4"), "frames": 4}
    first = submit_url(jobs, body, headers={"Idempotency-Key": "url-1"})
    again = submit_url(jobs, body, headers={"Idempotency-Key": "url-1"})
    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = submit_url(jobs, {**body, "frames": 5}, headers={"Idempotency-Key": "url-1"})
    assert other.status_code == 422
    jobs.wait(first.json()["id"])


def test_loopback_urls_are_refused_by_default(
    gateway: GatewayHandle, server: MediaServer, clip: bytes
) -> None:
    server.routes["/v/default.mp4"] = serve_bytes(clip)
    jobs = Jobs(gateway, key=gateway.api_key)
    job = run_url(jobs, server.url("/v/default.mp4"))
    assert job["status"] == "failed"
    assert job["error"]["code"] == "media_not_allowed"
    assert "loopback" in job["error"]["message"]
    assert "/v/default.mp4" not in server.requested
    wait_for(lambda: left_on_disk(gateway) == [], "nothing left on disk")


def test_sdk_and_cli_submit_urls(gw: GatewayHandle, server: MediaServer, clip: bytes) -> None:
    from deepfake_client import Client

    server.routes["/v/clip.mp4"] = serve_bytes(clip)
    with Client(gw.url, api_key=KEY_A, ca_cert=gw.cafile) as client:
        job = client.jobs.submit_url(server.url("/v/clip.mp4"), frames=4)
        assert job.input["media_url"] == server.url("/v/clip.mp4")  # type: ignore[attr-defined]
        done = client.jobs.wait(job.id, timeout=120)
        assert done.result is not None and done.result.frames_analyzed >= 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPFAKE_")}
    env.update(DEEPFAKE_URL=gw.url, DEEPFAKE_API_KEY=KEY_A, DEEPFAKE_CA_CERT=str(gw.cafile))
    run = subprocess.run(
        [str(DEEPFAKE), "jobs", "submit-url", server.url("/v/clip.mp4"), "--wait", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    assert printed["state"] == "succeeded"
    assert printed["input"]["media_url"] == server.url("/v/clip.mp4")


def test_a_job_fetches_again_after_its_worker_is_lost(
    serving, tmp_path: Path, server: MediaServer, clip: bytes
) -> None:
    """A gateway killed mid-fetch: the partial medium is removed, the job fetched again."""
    gw = start_gateway(
        tmp_path / "gw",
        serving.target,
        {
            "GATEWAY_API_KEYS": KEY_A,
            "GATEWAY_WEBHOOK_ALLOW_LOOPBACK": "true",
            "GATEWAY_JOB_POLL_S": "0.1",
            "GATEWAY_JOB_LEASE_S": "2",
            "GATEWAY_UPLOAD_MIN_BYTES_PER_S": "0",
        },
    )
    try:
        server.routes["/k/slow.mp4"] = drip(every_s=0.05, chunk=4096, for_s=60.0)
        jobs = Jobs(gw)
        job_id = submit_url(jobs, {"media_url": server.url("/k/slow.mp4")}).json()["id"]
        media = gw.var_dir / "jobs" / "media"
        wait_for(lambda: any(media.glob(f".{job_id}-*")), "a partial medium being written")
    finally:
        gw.process.stop(sig=signal.SIGKILL)
    assert any(media.glob(f".{job_id}-*"))
    server.routes["/k/slow.mp4"] = serve_bytes(clip)
    gw = start_gateway(
        tmp_path / "gw",
        serving.target,
        {"GATEWAY_API_KEYS": KEY_A, "GATEWAY_WEBHOOK_ALLOW_LOOPBACK": "true"},
    )
    try:
        done = Jobs(gw).wait(job_id)
        assert done["status"] == "succeeded", done["error"]
        assert done["attempts"] == 2
        assert done["input"]["size_bytes"] == len(clip)
        wait_for(lambda: left_on_disk(gw) == [], "no partial medium left")
    finally:
        gw.process.stop()
