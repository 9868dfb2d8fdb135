"""Probe confinement: FFmpeg opens only the container formats a camera or editor writes,
from the local file only, and refusals say what was wrong without FFmpeg's own text."""

from __future__ import annotations

import io
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from gateway.errors import InvalidVideo
from gateway.pipeline import probe as probe_module
from gateway.pipeline.probe import VideoLimits, probe
from tests.gateway.messages import assert_clean


def test_invalid_video_message_has_no_path_or_ffmpeg_text(gateway) -> None:
    with gateway.client() as client:
        response = client.post(
            "/v1/detect",
            headers={**gateway.auth(), "Content-Type": "video/mp4"},
            content=b"this is not a video, only some text pretending to be one\n" * 50,
        )
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_video"
    assert_clean(error["message"])


LIMITS = VideoLimits(max_duration_s=600, max_frames=100_000, max_pixels=3840 * 2160)


@pytest.fixture
def listener() -> Iterator[tuple[int, Callable[[], bool]]]:
    """A listening TCP socket: its port, and whether anything has connected to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)

    def connected() -> bool:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            return False
        conn.close()
        return True

    yield server.getsockname()[1], connected
    server.close()


def _hls(segment: str) -> str:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:1.0,\n{segment}\n#EXT-X-ENDLIST\n"
    )


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def _refused(path: Path) -> None:
    with pytest.raises(InvalidVideo) as caught:
        probe(path, LIMITS)
    assert_clean(caught.value.message)


@pytest.mark.parametrize("name", ["live.m3u8", "live.video"])
def test_hls_playlist_is_refused_and_fetches_nothing(tmp_path: Path, listener, name) -> None:
    port, connected = listener
    playlist = tmp_path / name
    playlist.write_text(_hls(f"http://127.0.0.1:{port}/x.ts"))
    _refused(playlist)
    assert not connected(), "FFmpeg connected to the URL in the playlist"


def test_hls_playlist_with_a_file_url_is_refused(tmp_path: Path, make_clip) -> None:
    clip = make_clip("other.ts", frames=10)
    playlist = tmp_path / "local.m3u8"
    playlist.write_text(_hls(f"file://{clip}"))
    _refused(playlist)


def test_ffconcat_list_of_another_local_file_is_refused(tmp_path: Path, make_clip) -> None:
    # The other file is a real video in the same folder, e.g. another client's upload.
    make_clip("other.mp4", frames=10).rename(tmp_path / "upload-other.video")
    listing = tmp_path / "upload-mine.video"
    listing.write_text("ffconcat version 1.0\nfile 'upload-other.video'\n")
    _refused(listing)


def test_sdp_session_is_refused(tmp_path: Path, listener) -> None:
    port, connected = listener
    sdp = tmp_path / "session.video"
    sdp.write_text(
        "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=stream\nc=IN IP4 127.0.0.1\nt=0 0\n"
        f"m=video {port} RTP/AVP 96\na=rtpmap:96 H264/90000\n"
    )
    _refused(sdp)
    assert not connected()


@pytest.mark.parametrize("name", ["frame.png", "frame.video"])
def test_raw_image_data_is_refused(tmp_path: Path, name) -> None:
    image = tmp_path / name
    image.write_bytes(_png())
    _refused(image)


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mov", "clip.mkv", "clip.avi"])
def test_camera_and_editor_containers_are_accepted(make_clip, name) -> None:
    info = probe(make_clip(name, frames=10), LIMITS)
    assert info.frame_count == 10


def test_the_format_is_checked_after_opening(tmp_path: Path, monkeypatch) -> None:
    # Even a demuxer FFmpeg's own whitelist let through is refused by name.
    monkeypatch.setattr(probe_module, "_OPEN_OPTIONS", {})
    listing = tmp_path / "frame.video"
    listing.write_bytes(_png())
    _refused(listing)


def test_concat_upload_gets_415_with_a_clean_message(gateway) -> None:
    # Points at a name in the gateway's own uploads folder.
    with gateway.client() as client:
        response = client.post(
            "/v1/detect",
            headers={**gateway.auth(), "Content-Type": "video/mp4"},
            content=b"ffconcat version 1.0\nfile 'upload-00000000.video'\n",
        )
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "invalid_video"
    assert_clean(response.json()["error"]["message"])


def _bytes_read() -> int:
    """Bytes this process has read through read(2) and friends so far (``rchar``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_probe_reads_a_bounded_part_of_a_long_upload(tmp_path: Path) -> None:
    import av
    import numpy as np

    # Noise is expensive to compress: 300 frames make a file of megabytes whose index
    # (the moov box, written last) is a few kilobytes.
    path = tmp_path / "long.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10, options={"preset": "ultrafast", "g": "20"})
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for _ in range(300):
            image = rng.integers(0, 255, (120, 160, 3), np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    size = path.stat().st_size
    assert size > 2_000_000
    before = _bytes_read()
    info = probe(path, VideoLimits(max_duration_s=600, max_frames=100_000, max_pixels=10**7))
    read = _bytes_read() - before
    assert info.frame_count == 300
    # The headers, the index and the first GOP's start: not the file.
    assert read < size / 4, (read, size)


def test_the_probe_reads_the_video_bitrate(make_clip) -> None:
    from gateway.pipeline.probe import VideoLimits, probe

    limits = VideoLimits(max_duration_s=600, max_frames=10_000, max_pixels=10**8)
    normal = probe(make_clip("normal.mp4", frames=60), limits)
    starved = probe(make_clip("starved.mp4", frames=60, bitrate=20_000), limits)
    assert normal.bitrate is not None and starved.bitrate is not None
    assert starved.bitrate < normal.bitrate / 5
