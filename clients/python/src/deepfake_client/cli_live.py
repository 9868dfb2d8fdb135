"""``deepfake watch``: a video file or a camera scored live on ``/v1/live``.

A file is streamed as the chunks of one video (paced at its own speed unless ``--fast``), a
camera's frames are sent as JPEG images (``--camera N``, read with OpenCV). A thread sends
while the command prints each rolling verdict as it comes, then the summary; with
``--json``, one JSON object a line, the summary (with its receipt) last.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.console import Console

from . import _live, camera, errors
from .cli_options import (
    ApiKeyOpt,
    CaCertOpt,
    JsonOpt,
    ModelLabel,
    ModelVersion,
    OperatingPointOpt,
    UrlOpt,
    console,
    errors_exit,
    fail,
    open_client,
)
from .live_models import LiveContainer, LiveSummary, LiveVerdict
from .live_sync import LiveSession

#: The container named in the ``hello``, from the file's suffix.
CONTAINERS: dict[str, LiveContainer] = {
    ".webm": "webm",
    ".mkv": "matroska",
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mp4",
    ".ts": "mpegts",
    ".ivf": "ivf",
}
_COLOURS = {"fake": "red", "real": "green", "inconclusive": "yellow"}


def mp4_index_last(path: Path) -> bool:
    """Whether an MP4's ``moov`` box comes after its ``mdat`` (a plain encoder's output):
    the gateway decodes a stream front to back and cannot read that one."""
    with path.open("rb") as mp4:
        while header := mp4.read(8):
            if len(header) < 8:
                return False
            size, kind = int.from_bytes(header[:4], "big"), header[4:]
            if kind in (b"moov", b"moof"):
                return False
            if kind == b"mdat":
                return True
            if size == 1:  # a 64-bit size follows the type
                size = int.from_bytes(mp4.read(8), "big") - 8
            elif size == 0:  # the box runs to the end of the file
                return False
            mp4.seek(size - 8, 1)
    return False


def verdict_line(verdict: LiveVerdict) -> str:
    """One rolling verdict as a line of rich markup."""
    colour = _COLOURS.get(verdict.verdict or "", "white")
    called = verdict.verdict or "(no frame yet)"
    score = "-" if verdict.score is None else f"{verdict.score:.3f}"
    tracks = " ".join(f"#{t.id} {t.score:.3f}" for t in verdict.tracks) or "no faces"
    latency = verdict.latency_ms
    late = "-" if latency.last is None else f"{latency.last:.0f} ms"
    p95 = "" if latency.p95 is None else f" (p95 {latency.p95:.0f})"
    return (
        f"{verdict.t:6.1f} s  [{colour}]{called:<14}[/] {score} "
        f"(threshold {verdict.threshold:.3f})  frames {verdict.frames_seen} seen, "
        f"{verdict.frames_scored} scored, {verdict.frames_dropped} dropped  "
        f"tracks {tracks}  latency {late}{p95}"
    )


def _sender(
    session: LiveSession, send: Callable[[], None], failed: list[BaseException]
) -> threading.Thread:
    """A thread that runs ``send`` and then says ``end``; its error goes to ``failed``."""

    def run() -> None:
        try:
            send()
        except BaseException as exc:  # reported by the main thread
            failed.append(exc)
        finally:
            session.finish()

    return threading.Thread(target=run, name="deepfake-watch-send", daemon=True)


def _camera_sender(
    session: LiveSession,
    index: int,
    seconds: float | None,
    record: BinaryIO | None,
    stop: threading.Event,
) -> Callable[[], None]:
    def send() -> None:
        fps = session.ready.max_fps or None
        timer = threading.Timer(seconds, stop.set) if seconds else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        for frame in camera.capture_frames(index, fps=fps):
            if stop.is_set():
                return
            # Without credit the frame is dropped here: a camera does not wait.
            if session.send_frame(frame) and record is not None:
                record.write(frame)

    return send


def watch(
    ctx: typer.Context,
    source: Annotated[
        Path | None,
        typer.Argument(help="A video file to stream (or give --camera).", dir_okay=False),
    ] = None,
    camera_index: Annotated[
        int | None, typer.Option("--camera", help="Score camera number N (OpenCV) instead.")
    ] = None,
    fast: Annotated[
        bool, typer.Option("--fast", help="Send the file as fast as credit allows.")
    ] = False,
    seconds: Annotated[
        float | None, typer.Option(help="Stop the camera after this many seconds.")
    ] = None,
    record: Annotated[
        Path | None,
        typer.Option(help="Write the camera frames sent, in order: the bytes the receipt signs."),
    ] = None,
    window: Annotated[float | None, typer.Option(help="Seconds of the rolling verdict.")] = None,
    model_version: ModelVersion = None,
    model_label: ModelLabel = None,
    operating_point: OperatingPointOpt = None,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """Score a video file or a camera live: rolling verdicts, then the summary."""
    if (source is None) == (camera_index is None):
        fail("give a video file or --camera N (one of them)")
    if source is not None and not source.is_file():
        fail(f"no such file: {source}")
    is_mp4 = source is not None and CONTAINERS.get(source.suffix.lower()) == "mp4"
    if source is not None and is_mp4 and mp4_index_last(source):
        fail(
            f"{source} has its index (moov) after its media: it cannot be decoded as it "
            "streams. Move the index first, without re-encoding: ffmpeg -i IN -c copy "
            "-movflags +faststart OUT"
        )
    duration = None
    if source is not None and not fast:
        try:
            duration = camera.video_duration(source)
        except camera.OpenCvMissing as exc:
            fail(f"{exc}; or pass --fast")
    options = {
        "model_version": model_version,
        "model_label": model_label,
        "window": window,
        "operating_point": operating_point,
    }
    out = console()
    failed: list[BaseException] = []
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(open_client(ctx, url, api_key, ca_cert))
        stack.enter_context(errors_exit())
        recording = stack.enter_context(record.open("wb")) if record else None
        if source is not None:
            container = CONTAINERS.get(source.suffix.lower())
            session = client.live(input="video", container=container, **options)
        else:
            session = client.live(**options)
        stack.enter_context(session)
        if not as_json:
            ready = session.ready
            out.print(
                f"session {ready.session}: {ready.model.name} v{ready.model.version}, "
                f"window {ready.window:g} s, up to {ready.max_fps:g} frames/s"
            )
        if source is not None:
            path = source

            def send() -> None:
                session.send_video(path, duration=duration, chunk=_paced_chunk(path, duration))

        else:
            assert camera_index is not None
            send = _camera_sender(session, camera_index, seconds, recording, stop)
        sender = _sender(session, send, failed)
        sender.start()
        try:
            for verdict in session:
                _show(verdict, as_json, out)
        except KeyboardInterrupt:
            stop.set()
        summary = session.end()
        sender.join(timeout=10)
    if failed and not isinstance(failed[0], errors.DeepfakeError):
        fail(f"sending stopped: {failed[0]}")
    _show_summary(summary, session, as_json, out)


def _paced_chunk(path: Path, duration: float | None) -> int:
    """Chunk bytes for ``path``: about two chunks per second of video when paced (so that
    pacing shows), within 16 KiB and the SDK's chunk; the SDK's chunk when not paced."""
    if not duration:
        return _live.VIDEO_CHUNK
    per_half_second = int(path.stat().st_size / (2 * duration))
    return max(16 * 1024, min(_live.VIDEO_CHUNK, per_half_second))


def _show(verdict: LiveVerdict, as_json: bool, out: Console) -> None:
    if as_json:
        sys.stdout.write(verdict.model_dump_json() + "\n")
        sys.stdout.flush()
    else:
        out.print(verdict_line(verdict))


def _show_summary(summary: LiveSummary, session: LiveSession, as_json: bool, out: Console) -> None:
    if as_json:
        sys.stdout.write(summary.model_dump_json() + "\n")
        return
    out.print("[bold]summary[/bold] " + verdict_line(summary))
    out.print(
        f"sent {session.frames_sent} messages ({session.frames_dropped} frames dropped "
        f"here for want of credit), sha256 {session.sha256}"
    )
    out.print(f"receipt {summary.receipt or '(none: no frame was scored)'}")
