"""Fetching media URLs: the address policy at every hop, the upload limits while streaming,
and nothing left on disk after a refusal (a loopback HTTP server stands in for the web)."""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.errors import MediaNotAllowed, MediaTooLarge, MediaUnreachable
from gateway.jobs import fetch
from gateway.jobs.crypto import new_data_key
from gateway.jobs.fetch import FetchLimits, fetch_media
from gateway.jobs.media import MediaStore
from gateway.jobs.postgres_store import PostgresJobStore
from gateway.jobs.ssrf import CallbackPolicy
from gateway.pipeline.sources import sniff_media_kind
from tests import pki
from tests.pg_cluster import new_pg_database
from tests.videos import write_clip

from .media_server import (
    MediaServer,
    declare_length,
    drip,
    redirect,
    serve_bytes,
    start_media_server,
    stream_without_length,
)

LOOPBACK = CallbackPolicy(allow_loopback=True)
LIMITS = FetchLimits(max_bytes=1024 * 1024, idle_timeout_s=2.0, min_bytes_per_s=0, total_s=20.0)
JOB = "0" * 32


@pytest.fixture(scope="module")
def server() -> Iterator[MediaServer]:
    found, httpd = start_media_server()
    yield found
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def media(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media", new_data_key())


def _left(media: MediaStore) -> list[str]:
    return sorted(p.name for p in media.directory.rglob("*") if p.is_file())


def _fetch(url: str, media: MediaStore, **kwargs: object):  # type: ignore[no-untyped-def]
    options = {"policy": LOOPBACK, "limits": LIMITS, **kwargs}
    return fetch_media(url, lambda body: media.store_stream(JOB, body), **options)  # type: ignore[arg-type]


def test_a_video_is_stored_encrypted_and_decrypts_to_the_same_bytes(
    server: MediaServer, media: MediaStore, tmp_path: Path
) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=10).read_bytes()
    server.routes["/clip.mp4"] = serve_bytes(clip)
    stored = _fetch(server.url("/clip.mp4"), media)
    assert stored.size == len(clip)
    assert clip[:64] not in media.path(JOB).read_bytes()  # only ciphertext at rest
    plain = media.decrypt_to_temp(JOB, stored.wrapped_key)
    assert plain.read_bytes() == clip
    assert sniff_media_kind(plain) == "video"


def test_redirects_are_followed_up_to_the_limit(server: MediaServer, media: MediaStore) -> None:
    server.routes["/small"] = serve_bytes(b"x" * 100)
    server.routes["/r1"] = redirect("/small")
    server.routes["/r2"] = redirect(server.url("/r1"), status=307)
    server.routes["/r3"] = redirect("/r2", status=301)
    assert _fetch(server.url("/r3"), media).size == 100
    with pytest.raises(MediaNotAllowed, match="redirected more than 2 times"):
        _fetch(server.url("/r3"), media, limits=FetchLimits(max_bytes=10**6, max_redirects=2))
    assert _left(media) == [f"{JOB}.enc"]  # the first, successful fetch only


@pytest.mark.parametrize(
    "location", ["http://10.0.0.1/clip.mp4", "http://169.254.169.254/latest/meta-data/"]
)
def test_a_redirect_to_a_private_address_is_refused_before_connecting(
    server: MediaServer, media: MediaStore, monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    server.routes["/inward"] = redirect(location)
    connected: list[tuple[str, ...]] = []
    send = fetch._send

    def recording(client, target, timeout):  # type: ignore[no-untyped-def]
        connected.append(target.addresses)
        return send(client, target, timeout)

    monkeypatch.setattr(fetch, "_send", recording)
    with pytest.raises(MediaNotAllowed, match="only globally routable"):
        _fetch(server.url("/inward"), media)
    assert connected == [("127.0.0.1",)]
    assert _left(media) == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/clip.mp4", "gopher://x/"])
def test_other_schemes_are_refused(url: str, media: MediaStore) -> None:
    with pytest.raises(MediaNotAllowed, match="http:// or https://"):
        _fetch(url, media)


def test_a_redirect_to_another_scheme_is_refused(server: MediaServer, media: MediaStore) -> None:
    server.routes["/to-file"] = redirect("file:///etc/passwd")
    with pytest.raises(MediaNotAllowed, match="http:// or https://"):
        _fetch(server.url("/to-file"), media)


def test_credentials_in_the_url_are_refused(server: MediaServer, media: MediaStore) -> None:
    with pytest.raises(MediaNotAllowed, match="credentials"):
        _fetch(f"http://user:pw@127.0.0.1:{server.port}/small", media)


def test_loopback_is_refused_by_default(server: MediaServer, media: MediaStore) -> None:
    server.routes["/small"] = serve_bytes(b"x" * 100)
    before = len(server.requested)
    with pytest.raises(MediaNotAllowed, match="loopback"):
        _fetch(server.url("/small"), media, policy=CallbackPolicy())
    assert len(server.requested) == before


def test_a_404_is_unreachable(server: MediaServer, media: MediaStore) -> None:
    with pytest.raises(MediaUnreachable, match="answered 404"):
        _fetch(server.url("/nothing-here"), media)
    assert _left(media) == []


def test_a_refused_connection_and_an_unknown_host_are_unreachable(media: MediaStore) -> None:
    with pytest.raises(MediaUnreachable, match="cannot be reached"):
        _fetch("http://127.0.0.1:9/clip.mp4", media)  # discard port: nothing listens
    with pytest.raises(MediaUnreachable, match="does not resolve"):
        _fetch("http://no-such-host.invalid/clip.mp4", media)


def test_content_length_over_the_limit_is_refused_before_reading(
    server: MediaServer, media: MediaStore
) -> None:
    server.routes["/huge"] = declare_length(50 * 1024 * 1024)
    started = time.monotonic()
    with pytest.raises(MediaTooLarge, match="over the limit"):
        _fetch(server.url("/huge"), media)
    assert time.monotonic() - started < 2.0
    assert _left(media) == []


def test_a_body_without_length_is_cut_as_soon_as_it_passes_the_limit(
    server: MediaServer, media: MediaStore
) -> None:
    server.routes["/endless"] = stream_without_length(100 * 1024 * 1024)
    with pytest.raises(MediaTooLarge, match="over 1048576 bytes"):
        _fetch(server.url("/endless"), media)
    assert _left(media) == []


def test_a_slow_drip_is_cut_by_the_minimum_rate(server: MediaServer, media: MediaStore) -> None:
    server.routes["/drip"] = drip(every_s=0.1, chunk=64)
    limits = FetchLimits(max_bytes=10**6, idle_timeout_s=2.0, min_bytes_per_s=4096, grace_s=1.0)
    started = time.monotonic()
    with pytest.raises(MediaUnreachable, match="slower than 4096 bytes/s"):
        _fetch(server.url("/drip"), media, limits=limits)
    assert time.monotonic() - started < 5.0
    assert _left(media) == []


def test_the_total_time_is_bounded(server: MediaServer, media: MediaStore) -> None:
    server.routes["/drip-slow"] = drip(every_s=0.1, chunk=64)
    limits = FetchLimits(max_bytes=10**6, idle_timeout_s=2.0, min_bytes_per_s=0, total_s=1.0)
    with pytest.raises(MediaUnreachable, match="longer than 1 s"):
        _fetch(server.url("/drip-slow"), media, limits=limits)
    assert _left(media) == []


def test_html_is_neither_an_image_nor_a_video(tmp_path: Path) -> None:
    page = tmp_path / "page"
    page.write_bytes(b"<!doctype html><html><body>not a video</body></html>")
    assert sniff_media_kind(page) is None
    noise = tmp_path / "noise"
    noise.write_bytes(os.urandom(4096).replace(b"G", b"g"))
    assert sniff_media_kind(noise) is None


def test_a_partial_ciphertext_of_a_killed_fetch_is_removed_with_the_job(media: MediaStore) -> None:
    partial = media.directory / f".{JOB}-abc123"
    partial.write_bytes(b"half")
    media.delete(JOB)
    assert _left(media) == []


def test_a_store_holding_media_keeps_only_ciphertext_and_nothing_of_a_refused_fetch(
    server: MediaServer, tmp_path: Path, postgres_url: str
) -> None:
    """PostgreSQL keeps job media in its ``job_media`` table: the same rules hold there."""
    store = PostgresJobStore(new_pg_database(postgres_url))
    try:
        media = MediaStore(tmp_path / "pg-media", new_data_key(), store)
        clip = write_clip(tmp_path / "clip.mp4", frames=10).read_bytes()
        server.routes["/pg/clip.mp4"] = serve_bytes(clip)
        server.routes["/pg/endless"] = stream_without_length(100 * 1024 * 1024)
        with pytest.raises(MediaTooLarge):
            _fetch(server.url("/pg/endless"), media)
        assert store.media_chunk(JOB, 0) is None
        stored = _fetch(server.url("/pg/clip.mp4"), media)
        assert clip[:64] not in store.media_chunk(JOB, 0)  # type: ignore[operator]
        assert media.decrypt_to_temp(JOB, stored.wrapped_key).read_bytes() == clip
        media.delete(JOB)
        assert store.media_chunk(JOB, 0) is None
        assert _left(media) == []
    finally:
        store.close()


def test_https_is_verified_against_the_name_while_connecting_to_the_checked_address(
    tmp_path: Path,
) -> None:
    ca = pki.issue("media CA", ca=True)
    ca_file, _ = pki.write(tmp_path, "media-ca", *ca)
    cert, key = pki.write(tmp_path, "media", *pki.issue("localhost", ca, san=pki.LOCALHOST))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    found, httpd = start_media_server(tls)
    try:
        found.routes["/secure.bin"] = serve_bytes(b"s" * 5000)
        media = MediaStore(tmp_path / "media", new_data_key())
        assert _fetch(found.url("/secure.bin"), media, ca_file=ca_file).size == 5000
        media.delete(JOB)
        # Without the CA the certificate does not verify: nothing is read.
        with pytest.raises(MediaUnreachable, match="cannot be reached"):
            _fetch(found.url("/secure.bin"), media)
        assert _left(media) == []
    finally:
        httpd.shutdown()
        httpd.server_close()
