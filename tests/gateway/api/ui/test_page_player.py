"""The page's player in a real headless Chromium: the analysed file plays from a local
object URL, the timeline's playhead follows it and seeks it, and the answer's face boxes
are drawn over the picture where the answer puts them.

The gateway here answers with a face-aware version (an untrained tiny classifier behind the
in-graph face detector), so that the timeline holds real boxes; a clip of two face
photographs gives two tracks. Every position read from the page (the video's time, the
playhead, each box's rectangle) is compared with one computed here from the job's JSON and
the page's layout.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from model_export.face_export import publish_face_version
from tests.conftest import MODEL_NAME, REPO, GatewayHandle, start_gateway, start_serving
from tests.gateway.api.ui.cdp import Cdp
from tests.gateway.api.ui.conftest import VIEWPORT, Browser
from tests.images import write_image
from tests.tiny_model import tiny_cnn
from tests.videos import face_frames, write_clip

pytestmark = pytest.mark.slow

SIZE = (32, 32)
#: The clip: 6 s of two faces, so that the 32 samples are about 0.19 s apart.
WIDTH, HEIGHT, FRAMES, FPS = 480, 270, 60, 10
#: The player after the seek, boxes drawn, for a person to look at (git-ignored, as var/).
SCREENSHOT = REPO / "var" / "screenshots" / "ui-player.png"
#: Pixels a drawn box may be off (the browser rounds layout to fractions of a pixel).
BOX_TOLERANCE_PX = 2.0

_ENDED = "['done', 'error'].includes(document.body.dataset.state) && document.body.dataset.state"

#: The media, the overlay's boxes and the timeline as laid out now, in viewport pixels.
_READ_LAYOUT = """(() => {
  const still = !!document.getElementById('still');
  const media = document.getElementById(still ? 'still' : 'player');
  const rect = (el) => { const r = el.getBoundingClientRect();
    return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  const svg = document.querySelector('#timeline svg');
  const threshold = svg && svg.querySelector('line#threshold');
  const playhead = svg && svg.querySelector('line#playhead');
  const figure = document.getElementById('timeline');
  return {
    still,
    src: media.currentSrc || media.src,
    natural: still ? [media.naturalWidth, media.naturalHeight]
      : [media.videoWidth, media.videoHeight],
    media: rect(media),
    time: still ? 0 : media.currentTime,
    duration: still ? null : media.duration,
    seeking: still ? false : media.seeking,
    frame: document.getElementById('overlay').dataset.frame,
    boxes: [...document.querySelectorAll('#overlay .face-box')].map((b) => ({
      ...rect(b), track: Number(b.dataset.track), frame: Number(b.dataset.frame),
      label: b.textContent})),
    caption: document.getElementById('frame-caption').textContent,
    svg: svg ? rect(svg) : null,
    viewBoxWidth: svg ? svg.viewBox.baseVal.width : null,
    plot: threshold ? [Number(threshold.getAttribute('x1')),
      Number(threshold.getAttribute('x2'))] : null,
    playhead: playhead ? Number(playhead.getAttribute('x1')) : null,
    role: figure.getAttribute('role'),
    valueText: figure.getAttribute('aria-valuetext'),
    tabIndex: figure.tabIndex,
  };
})()"""


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
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(
        tmp_path_factory.mktemp("player-clip") / "two-faces.mp4",
        width=WIDTH, height=HEIGHT, frames=FRAMES, fps=FPS, faces=2, seed=7,
    )  # fmt: skip


@pytest.fixture(scope="module")
def page(browser: Browser) -> Iterator[Cdp]:
    cdp = browser.new_sized_page(("Page", "Runtime", "Log", "Network"))
    cdp.call("Page.bringToFront")  # a tab in the background draws no frames
    yield cdp
    cdp.close()


def _open(page: Cdp, gateway: GatewayHandle) -> None:
    page.call("Page.navigate", url=f"{gateway.url}/ui")
    page.wait_for("document.body && document.body.dataset.ready === 'true'", 20)
    page.type_into("#api-key", gateway.api_key)


def _analyse(page: Cdp) -> None:
    """Press Analyse, wait for the answer and for the video's (or image's) first frame."""
    page.evaluate("document.getElementById('analyze').scrollIntoView({block: 'center'})")
    previous = page.evaluate("document.getElementById('job-id').textContent")
    page.click("#analyze")
    # A page that showed an answer before is done until the new one is in.
    state = page.wait_for(
        f"document.getElementById('job-id').textContent !== {json.dumps(previous)} && {_ENDED}"
        " || document.body.dataset.state === 'error' && 'error'",
        120,
    )
    error = page.evaluate("document.getElementById('error').textContent")
    assert state == "done", error
    page.wait_for(
        "(() => { const v = document.getElementById('player');"
        " const i = document.getElementById('still');"
        " return i ? i.complete && i.naturalWidth > 0 : v.readyState >= 2; })()",
        20,
    )


def _result(gateway: GatewayHandle, page: Cdp) -> dict:
    job_id = page.evaluate("document.getElementById('job-id').textContent")
    with gateway.client(headers=gateway.auth()) as client:
        job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "succeeded"
    return job["result"]


@pytest.fixture(scope="module")
def loaded(page: Cdp, gateway: GatewayHandle, clip: Path) -> dict:
    """The clip chosen with the file input and analysed; the job's result."""
    _open(page, gateway)
    page.call("DOM.setFileInputFiles", files=[str(clip)], nodeId=page.node_id("#video"))
    _analyse(page)
    return _result(gateway, page)


def _times(result: dict) -> list[float]:
    return [float(p["t_s"]) for p in result["timeline"]]


def _spacing(result: dict) -> float:
    """The sampled frames' spacing (the answer's times are uniform here)."""
    times = sorted(set(_times(result)))
    return (times[-1] - times[0]) / (len(times) - 1)


def _nearest(result: dict, t: float) -> int:
    times = _times(result)
    return min(range(len(times)), key=lambda i: (abs(times[i] - t), i))


def _end_s(result: dict) -> float:
    """Where the timeline's time axis ends (as gateway/pipeline/timeline_svg.py draws it)."""
    return max([float(result["video"]["duration_s"]), *_times(result), 0.0]) or 1.0


def _timeline_x(layout: dict, result: dict, t: float) -> tuple[float, float]:
    """Where time ``t`` is on the timeline: (SVG user units, viewport pixels)."""
    left, right = layout["plot"]
    user = left + t / _end_s(result) * (right - left)
    svg = layout["svg"]
    return user, svg["x"] + user / layout["viewBoxWidth"] * svg["w"]


def _assert_boxes_match(layout: dict, result: dict, frame: int) -> None:
    """The overlay holds the faces of ``frame``, scaled onto the displayed picture."""
    natural_w, natural_h = layout["natural"]
    assert (natural_w, natural_h) == (result["video"]["width"], result["video"]["height"])
    media = layout["media"]
    scale = min(media["w"] / natural_w, media["h"] / natural_h)
    shown_w, shown_h = natural_w * scale, natural_h * scale
    left = media["x"] + (media["w"] - shown_w) / 2
    top = media["y"] + (media["h"] - shown_h) / 2
    faces = result["timeline"][frame]["faces"]
    assert layout["frame"] == str(frame)
    assert len(layout["boxes"]) == len(faces) > 0
    tracks = {t["id"]: t["score"] for t in result["tracks"]}
    for box, face in zip(
        sorted(layout["boxes"], key=lambda b: b["track"]),
        sorted(faces, key=lambda f: f["track"]),
        strict=True,
    ):
        y1, x1, y2, x2 = face["box"]
        expected = (
            left + x1 * shown_w,
            top + y1 * shown_h,
            (x2 - x1) * shown_w,
            (y2 - y1) * shown_h,
        )
        drawn = (box["x"], box["y"], box["w"], box["h"])
        assert drawn == pytest.approx(expected, abs=BOX_TOLERANCE_PX), (face, box)
        assert (box["track"], box["frame"]) == (face["track"], frame)
        # Each box says its face's score and its track's.
        assert box["label"] == (
            f"track {face['track']}: face {face['score']:.3f}, track {tracks[face['track']]:.3f}"
        )


def test_the_clip_plays_from_a_local_object_url(loaded: dict, page: Cdp) -> None:
    layout = page.evaluate(_READ_LAYOUT)
    assert layout["still"] is False
    assert layout["src"].startswith("blob:https://localhost:")
    assert layout["duration"] == pytest.approx(loaded["video"]["duration_s"], abs=0.15)
    assert layout["natural"] == [WIDTH, HEIGHT]
    # The file went up once: one POST of the job, and the page fetched no media.
    requests = [
        r["request"] for r in (e["params"] for e in page.events)
        if "request" in r and r["request"]["url"].startswith("https://")
    ]  # fmt: skip
    assert [r["method"] for r in requests if r["method"] != "GET"] == ["POST"]
    paths = {"/" + r["url"].split("/", 3)[3].split("?")[0] for r in requests}
    assert {p for p in paths if not p.startswith(("/ui", "/v1/jobs"))} == set(), paths
    # At time 0 the first frame's boxes are on the picture, and the playhead at the start.
    _assert_boxes_match(layout, loaded, _nearest(loaded, 0.0))
    assert layout["playhead"] == pytest.approx(layout["plot"][0])
    assert layout["role"] == "slider" and layout["tabIndex"] == 0


def _seek_settled(page: Cdp) -> dict:
    page.wait_for(
        "(() => { const v = document.getElementById('player');"
        " return !v.seeking && v.readyState >= 2; })()",
        20,
    )
    return page.evaluate(_READ_LAYOUT)


def test_a_click_on_the_timeline_seeks_the_video_and_moves_the_boxes(
    loaded: dict, page: Cdp
) -> None:
    times, spacing = _times(loaded), _spacing(loaded)
    with_faces = [i for i, p in enumerate(loaded["timeline"]) if p["faces"]]
    assert len(with_faces) >= len(times) - 2  # the detector sees both photographs
    # Two thirds of the way from a sampled frame in the middle to the next: the boxes shown
    # are the next frame's, the nearest (not the last one passed).
    passed = next(i for i in with_faces[len(with_faces) // 2 :] if i + 1 in with_faces)
    frame = passed + 1
    target = times[passed] + spacing * 2 / 3
    page.evaluate("document.querySelector('#timeline svg').scrollIntoView({block: 'center'})")
    before = page.evaluate(_READ_LAYOUT)
    user_x, client_x = _timeline_x(before, loaded, target)
    client_y = before["svg"]["y"] + before["svg"]["h"] / 2
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        page.call(
            "Input.dispatchMouseEvent", type=kind, x=client_x, y=client_y,
            button="none" if kind == "mouseMoved" else "left",
            clickCount=0 if kind == "mouseMoved" else 1,
        )  # fmt: skip
    after = _seek_settled(page)
    assert after["time"] == pytest.approx(target, abs=spacing)
    assert times[passed] < after["time"] < times[frame]
    assert _nearest(loaded, after["time"]) == frame
    # The playhead moved to where the click was (and so to the video's time).
    assert after["playhead"] == pytest.approx(user_x, abs=1.5)
    assert after["playhead"] == pytest.approx(_timeline_x(after, loaded, after["time"])[0])
    assert after["playhead"] > before["playhead"] + 100
    _assert_boxes_match(after, loaded, frame)
    assert after["caption"].startswith(f"Frame at {times[frame]:.2f} s:")
    assert after["valueText"].startswith(f"{after['time']:.2f} s, frame score ")
    page.evaluate("document.getElementById('evidence').scrollIntoView()")
    shot = page.call("Page.captureScreenshot", format="png")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
    assert Image.open(SCREENSHOT).size == VIEWPORT


def test_the_arrow_keys_step_through_the_sampled_frames(loaded: dict, page: Cdp) -> None:
    times = _times(loaded)
    start = page.evaluate(_READ_LAYOUT)["time"]
    page.evaluate("document.getElementById('timeline').focus()")
    assert page.evaluate("document.activeElement.id") == "timeline"

    def press(key: str, code: int) -> dict:
        for kind in ("keyDown", "keyUp"):
            page.call(
                "Input.dispatchKeyEvent", type=kind, key=key, code=key,
                windowsVirtualKeyCode=code, nativeVirtualKeyCode=code,
            )  # fmt: skip
        return _seek_settled(page)

    after = press("ArrowRight", 39)
    following = min(t for t in times if t > start + 1e-3)
    assert after["time"] == pytest.approx(following, abs=1e-3)
    frame = times.index(following)
    _assert_boxes_match(after, loaded, frame)
    back = press("ArrowLeft", 37)
    previous = max(t for t in times if t < following - 1e-3)
    assert back["time"] == pytest.approx(previous, abs=1e-3)
    home = press("Home", 36)
    assert home["time"] == 0 and home["playhead"] == pytest.approx(home["plot"][0])


def test_the_playhead_follows_the_playing_video(loaded: dict, page: Cdp) -> None:
    page.evaluate("(() => { const v = document.getElementById('player'); v.muted = true;"
                  " v.currentTime = 0; })()")  # fmt: skip
    _seek_settled(page)
    page.evaluate("document.getElementById('player').play()", await_promise=True)
    # The playhead's own time (what it was last drawn at) moves on while the video plays.
    page.wait_for("Number(document.getElementById('timeline').dataset.time) > 1", 30)
    page.evaluate("document.getElementById('player').pause()")
    paused = page.evaluate(_READ_LAYOUT)
    assert paused["time"] > 1
    assert paused["playhead"] == pytest.approx(_timeline_x(paused, loaded, paused["time"])[0])
    frame = _nearest(loaded, paused["time"])
    _assert_boxes_match(paused, loaded, frame)


def _errors(events: list[dict]) -> list[dict]:
    return [
        e
        for e in events
        if e["method"] == "Runtime.exceptionThrown"
        or (
            e["method"] == "Log.entryAdded"
            and e["params"]["entry"]["level"] in {"error", "warning"}
        )
    ]


def test_blob_media_is_allowed_and_blob_scripts_are_not(loaded: dict, page: Cdp) -> None:
    page.pump(0.3)
    assert _errors(page.events) == []
    # The policy allows blob: for media and images only: a script from one does not run.
    before = len(page.events)
    ran = page.evaluate(
        "new Promise((done) => { const s = document.createElement('script');"
        " s.src = URL.createObjectURL(new Blob(['window.blobRan = true'],"
        " {type: 'text/javascript'}));"
        " s.onerror = () => done(window.blobRan === true);"
        " s.onload = () => done(window.blobRan === true); document.body.append(s); })",
        await_promise=True,
    )
    assert ran is False
    page.pump(0.3)
    reports = [
        e["params"]["entry"]["text"]
        for e in page.events[before:]
        if e["method"] == "Log.entryAdded"
    ]
    assert any("Content Security Policy" in text for text in reports), reports


_DRAG = """((kind) => {
  const file = document.getElementById('drop-source').files[0];
  const data = new DataTransfer();
  data.items.add(file);
  const zone = document.getElementById('drop-zone');
  const event = new DragEvent(kind, {bubbles: true, cancelable: true, dataTransfer: data});
  const allowed = !zone.dispatchEvent(event);
  return {
    allowed,
    drop: document.body.dataset.drop || null,
    border: getComputedStyle(zone).borderTopColor,
    chosen: [...document.getElementById('video').files].map((f) => [f.name, f.size]),
  };
})"""


def test_a_dropped_file_is_analysed_and_the_old_url_revoked(
    loaded: dict, page: Cdp, gateway: GatewayHandle, tmp_path: Path
) -> None:
    old_url = page.evaluate(_READ_LAYOUT)["src"]
    other = write_clip(
        tmp_path / "dropped.mp4", width=WIDTH, height=HEIGHT, frames=30, fps=FPS, faces=1
    )
    # The test's own file input holds the file the synthetic drop carries.
    page.evaluate(
        "(() => { const i = document.createElement('input'); i.type = 'file';"
        " i.id = 'drop-source'; i.hidden = true; document.body.append(i); })()"
    )
    page.call("DOM.setFileInputFiles", files=[str(other)], nodeId=page.node_id("#drop-source"))
    assert page.evaluate("document.getElementById('drop-source').files.length") == 1
    resting = page.evaluate(f"({_DRAG})('dragleave')")
    entered = page.evaluate(f"({_DRAG})('dragenter')")
    over = page.evaluate(f"({_DRAG})('dragover')")
    dropped = page.evaluate(f"({_DRAG})('drop')")
    # While a file is over the page the drop zone shows it; the drop ends that.
    assert resting["drop"] is None and entered["drop"] == "over"
    assert over["allowed"] is True and over["drop"] == "over"
    assert over["border"] != resting["border"]
    assert dropped["allowed"] is True and dropped["drop"] is None
    assert dropped["chosen"] == [["dropped.mp4", other.stat().st_size]]
    assert "dropped.mp4" in page.evaluate("document.getElementById('drop-hint').textContent")
    page.evaluate("document.getElementById('drop-source').remove()")

    _analyse(page)
    result = _result(gateway, page)
    layout = page.evaluate(_READ_LAYOUT)
    assert layout["src"].startswith("blob:") and layout["src"] != old_url
    assert layout["duration"] == pytest.approx(result["video"]["duration_s"], abs=0.15)
    assert result["frames_analyzed"] == len(result["timeline"])
    # The first file's URL was revoked when the second was analysed: it reads no more.
    revoked = page.evaluate(
        f"fetch({json.dumps(old_url)}).then(() => false, () => true)", await_promise=True
    )
    assert revoked is True
    _assert_boxes_match(layout, result, _nearest(result, layout["time"]))


def test_a_photo_shows_its_boxes_over_it(
    browser: Browser, gateway: GatewayHandle, tmp_path: Path
) -> None:
    # Stored turned, with an EXIF orientation: the browser shows it upright, as the
    # gateway reads it, so the boxes land on the face.
    upright = Image.fromarray(face_frames(1, 480, 320, faces=2, still=True)[0])
    photo = write_image(tmp_path / "face.jpg", upright, orientation=6)
    other = browser.new_sized_page()
    try:
        _open(other, gateway)
        other.call("DOM.setFileInputFiles", files=[str(photo)], nodeId=other.node_id("#video"))
        _analyse(other)
        result = _result(gateway, other)
        layout = other.evaluate(_READ_LAYOUT)
        other.pump(0.3)
        errors = _errors(other.events)
    finally:
        other.close()
    assert errors == []
    assert result["video"]["kind"] == "image"
    assert (result["video"]["width"], result["video"]["height"]) == (480, 320)
    assert layout["still"] is True and layout["src"].startswith("blob:")
    _assert_boxes_match(layout, result, 0)
    # One face in each half of the picture, where the photographs were put: upright.
    middle = layout["media"]["x"] + layout["media"]["w"] / 2
    centres = sorted(b["x"] + b["w"] / 2 for b in layout["boxes"])
    assert len(centres) == 2 and centres[0] < middle < centres[1]
    # A still has no time to move through: the timeline is no slider.
    assert layout["role"] is None
