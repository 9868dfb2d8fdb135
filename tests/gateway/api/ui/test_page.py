"""The web page in a real headless Chromium: upload a clip, wait for the verdict, compare.

What the page rendered (verdict, score, threshold, model, tracks, the timeline SVG) is
read from the DOM and compared with the same job's JSON fetched over HTTPS; the browser's
console, exceptions and CSP reports must stay clean; a screenshot is written to
``var/screenshots/ui.png`` for a person to look at. A second page renders that result
with what other versions add (face explanations, content credentials, ensemble members)
and hostile strings, into ``var/screenshots/ui-explanations.png``.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gateway.pipeline.timeline_svg import PLOT_HEIGHT, PLOT_TOP
from tests.conftest import REPO, GatewayHandle
from tests.gateway.api.ui.cdp import Cdp
from tests.gateway.api.ui.conftest import VIEWPORT, Browser
from tests.videos import write_clip

pytestmark = pytest.mark.slow

#: Where the screenshot of the finished page is written (git-ignored, like all of var/).
SCREENSHOT = REPO / "var" / "screenshots" / "ui.png"
#: The page rendering a result with face explanations, content credentials and members.
EXPLAINED_SCREENSHOT = REPO / "var" / "screenshots" / "ui-explanations.png"
KEY_STORAGE = "deepfake-api-key"

_READ_PAGE = """(() => {
  const text = (id) => document.getElementById(id).textContent;
  const threshold = document.querySelector('#timeline svg line#threshold');
  return {
    verdict: text('verdict'),
    verdictClass: document.getElementById('verdict').className,
    reasons: text('verdict-reasons'),
    score: Number(document.getElementById('score').dataset.value),
    scoreText: text('score'),
    threshold: Number(document.getElementById('threshold').dataset.value),
    thresholdText: text('threshold'),
    modelName: text('model-name'),
    modelVersion: text('model-version'),
    modelKind: text('model-kind'),
    trackCount: text('track-count'),
    trackRows: [...document.querySelectorAll('#tracks tbody tr')].map(
      (r) => [...r.cells].map((c) => c.textContent)),
    jobId: text('job-id'),
    warnings: [...document.querySelectorAll('#warnings li')].map((li) => li.textContent),
    svgThresholdY: threshold ? Number(threshold.getAttribute('y1')) : null,
    svgLanes: document.querySelectorAll('#timeline svg g.lane').length,
    svgPoints: (document.querySelector('#timeline svg polyline#score')
      ?.getAttribute('points') || '').trim().split(/\\s+/).filter(Boolean).length,
    svgWidth: document.querySelector('#timeline svg')?.getBoundingClientRect().width || 0,
    explanationsNote: text('explanations-note'),
    explanations: document.querySelectorAll('#explanations figure').length,
    provenanceHidden: document.getElementById('provenance').hidden,
    uploadDone: document.getElementById('upload-progress').value,
    analysisDone: document.getElementById('analysis-progress').value,
    error: document.getElementById('error').hidden ? null : text('error'),
  };
})()"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("ui-clip") / "clip.mp4", frames=20, fps=10)


@pytest.fixture(scope="module")
def page(browser: Browser) -> Iterator[Cdp]:
    cdp = browser.new_sized_page(("Page", "Runtime", "Log", "Network"))
    yield cdp
    cdp.close()


@pytest.fixture(scope="module")
def finished(page: Cdp, gateway: GatewayHandle, clip: Path) -> dict:
    """The page after a person's steps: open, type the key, choose the clip, click, wait."""
    page.call("Page.navigate", url=f"{gateway.url}/ui")
    page.wait_for("document.body && document.body.dataset.ready === 'true'", 20)
    page.type_into("#api-key", gateway.api_key)
    page.call("DOM.setFileInputFiles", files=[str(clip)], nodeId=page.node_id("#video"))
    assert page.evaluate("document.getElementById('video').files[0].name") == clip.name
    page.click("#analyze")
    state = page.wait_for(
        "['done', 'error'].includes(document.body.dataset.state) && document.body.dataset.state",
        90,
    )
    rendered = page.evaluate(_READ_PAGE)
    assert state == "done", rendered["error"]
    return rendered


def _events(page: Cdp, method: str) -> list[dict]:
    return [e["params"] for e in page.events if e["method"] == method]


def test_the_page_shows_the_jobs_result(finished: dict, gateway: GatewayHandle) -> None:
    with gateway.client(headers=gateway.auth()) as client:
        job = client.get(f"/v1/jobs/{finished['jobId']}").json()
    assert job["status"] == "succeeded"
    result = job["result"]
    assert finished["verdict"] == result["verdict"]
    assert finished["verdictClass"] == f"verdict {result['verdict']}"
    # A job's result carries the interval and the reasons, shown under the verdict.
    interval = result["score_interval"]
    assert finished["reasons"].startswith(
        f"90% interval {interval['low']:.3f}–{interval['high']:.3f}"
    )
    assert isinstance(result["reasons"], list)
    assert finished["score"] == result["score"]
    assert float(finished["scoreText"]) == pytest.approx(result["score"], abs=5e-4)
    assert finished["threshold"] == result["threshold"]
    assert float(finished["thresholdText"]) == pytest.approx(result["threshold"], abs=5e-4)
    assert finished["modelName"] == result["model"]["name"]
    assert finished["modelVersion"] == str(result["model"]["version"])
    assert finished["modelKind"] == result["model"]["kind"]
    assert finished["trackCount"] == str(len(result["tracks"]))
    assert [row[0] for row in finished["trackRows"]] == [str(t["id"]) for t in result["tracks"]]
    assert [row[2] for row in finished["trackRows"]] == [
        str(len(t["frames"])) for t in result["tracks"]
    ]
    assert finished["warnings"] == result["warnings"]
    assert finished["uploadDone"] == 1 and finished["analysisDone"] == 1
    # The timeline: the server's SVG, drawn in the page, threshold line where it belongs.
    assert finished["svgThresholdY"] == pytest.approx(
        PLOT_TOP + (1 - result["threshold"]) * PLOT_HEIGHT, abs=0.01
    )
    assert finished["svgLanes"] == len(result["tracks"])
    assert finished["svgPoints"] == len(result["timeline"])
    assert finished["svgWidth"] > 400
    # The tiny whole-frame model explains nothing and signs nothing: the page says so.
    if not any(t.get("explanations") for t in result["tracks"]):
        assert finished["explanations"] == 0
        assert "offers no face explanations" in finished["explanationsNote"]
    assert finished["provenanceHidden"] is ("provenance" not in result)


def test_the_key_stays_in_session_storage_and_travels_as_a_header(
    finished: dict, page: Cdp, gateway: GatewayHandle
) -> None:
    assert page.evaluate(f"sessionStorage.getItem({json.dumps(KEY_STORAGE)})") == gateway.api_key
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert page.call("Network.getCookies", urls=[gateway.url])["cookies"] == []
    api_calls = [
        r["request"]
        for r in _events(page, "Network.requestWillBeSent")
        if "/v1/" in r["request"]["url"]
    ]
    methods = {(r["method"], r["url"].split("?")[0].rsplit("/", 1)[-1]) for r in api_calls}
    assert ("POST", "jobs") in methods
    assert ("GET", "events") in methods
    assert ("GET", "timeline.svg") in methods
    for request in api_calls:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers.get("authorization") == f"Bearer {gateway.api_key}", request["url"]
        assert "cookie" not in headers
    responses = [
        r["response"]
        for r in _events(page, "Network.responseReceived")
        if "/v1/" in r["response"]["url"]
    ]
    assert responses and all(
        "set-cookie" not in {k.lower() for k in r["headers"]} for r in responses
    )


def test_the_page_ran_without_errors_or_policy_violations(finished: dict, page: Cdp) -> None:
    page.pump(0.5)
    assert _events(page, "Runtime.exceptionThrown") == []
    console = [
        e for e in _events(page, "Runtime.consoleAPICalled") if e["type"] in {"error", "warning"}
    ]
    assert console == []
    logged = [e["entry"] for e in _events(page, "Log.entryAdded")]
    assert [e for e in logged if e["level"] in {"error", "warning"}] == []


def test_the_policy_is_enforced_in_the_browser(browser: Browser, gateway: GatewayHandle) -> None:
    # An inline script added to the page must not run, and the browser reports why:
    # proof that the policy holds and that the check above would see a violation.
    other = browser.new_page()
    try:
        other.call("Log.enable")
        other.call("Page.enable")
        other.call("Page.navigate", url=f"{gateway.url}/ui")
        other.wait_for("document.body && document.body.dataset.ready === 'true'", 20)
        ran = other.evaluate(
            "(() => { const s = document.createElement('script');"
            " s.textContent = 'window.inlineRan = true'; document.body.append(s);"
            " return window.inlineRan === true; })()"
        )
        assert ran is False
        other.pump(0.5)
        reports = [
            e["params"]["entry"]["text"] for e in other.events if e["method"] == "Log.entryAdded"
        ]
        assert any("Content Security Policy" in text for text in reports), reports
    finally:
        other.close()


def _screenshot(page: Cdp, path: Path) -> Image.Image:
    """The whole page (not only the viewport) as PNG at ``path``; the image."""
    height = page.evaluate("document.documentElement.scrollHeight")
    shot = page.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": VIEWPORT[0], "height": height, "scale": 1},
    )
    png = base64.b64decode(shot["data"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (VIEWPORT[0], height)
    return image


def test_a_screenshot_of_the_result_is_written(finished: dict, page: Cdp) -> None:
    page.call("Page.bringToFront")  # a tab in the background draws no frames
    image = _screenshot(page, SCREENSHOT)
    assert image.height > VIEWPORT[1] / 2  # the result is on the page, not just the form
    # Not a blank page: many distinct colours (text, the plot, the verdict's colour).
    assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50


def _errors(events: list[dict]) -> list[dict]:
    """Uncaught exceptions and error-level log entries (CSP reports are those)."""
    return [
        e
        for e in events
        if e["method"] == "Runtime.exceptionThrown"
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]


def _png(image: Image.Image) -> str:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _face_and_heatmap(index: int) -> tuple[str, str]:
    """A real face photograph as a thumbnail and a heatmap of the same size."""
    from tests.videos import _faces

    face = Image.fromarray(_faces()[index % 2]).resize((96, 96))
    y, x = np.mgrid[0:96, 0:96]
    heat = np.exp(-((x - 30 - 20 * index) ** 2 + (y - 40) ** 2) / 300.0)
    rgb = np.stack([255 * heat, 64 * heat, 255 * (1 - heat)], axis=-1).astype(np.uint8)
    return _png(face), _png(Image.fromarray(rgb))


HOSTILE = '<img src=x onerror="window.pwned=1">&<script>window.pwned=2</script>'

_RENDER = """(async () => {
  const r = await import('/ui/render.js');
  const [result, timeline] = %s;
  document.getElementById('timeline').replaceChildren(r.parseTimeline(timeline));
  r.showSummary({id: 'job-rendered'}, result);
  r.showProvenance(result.provenance);
  r.showTracks(result);
  r.showExplanations(result);
  document.getElementById('result').hidden = false;
  const text = (id) => document.getElementById(id).textContent;
  return {
    modelName: text('model-name'),
    reasons: text('verdict-reasons'),
    warnings: [...document.querySelectorAll('#warnings li')].map((li) => li.textContent),
    demoHidden: document.getElementById('demo-warning').hidden,
    provenanceHidden: document.getElementById('provenance').hidden,
    provenance: [...document.querySelectorAll('#provenance-list dd')].map((d) => d.textContent),
    head: [...document.querySelectorAll('#tracks-head th')].map((th) => th.textContent),
    rows: [...document.querySelectorAll('#tracks tbody tr')].map(
      (tr) => [...tr.cells].map((c) => c.textContent)),
    videoMembers: [...document.querySelectorAll('#video-members-list dd')].map(
      (d) => d.textContent),
    videoMembersHidden: document.getElementById('video-members').hidden,
    captions: [...document.querySelectorAll('#explanations figcaption')].map(
      (c) => c.textContent),
    heatmaps: document.querySelectorAll('#explanations img.heatmap').length,
    images: [...document.querySelectorAll('img')].map((img) => img.src.slice(0, 22)),
    lanes: document.querySelectorAll('#timeline svg g.lane').length,
    pwned: window.pwned === undefined ? null : window.pwned,
  };
})()"""


def test_explanations_provenance_and_members_are_rendered_as_text(
    browser: Browser, gateway: GatewayHandle, finished: dict
) -> None:
    # What other versions add to a result (explanations, provenance, ensemble members),
    # on the real job's result, with hostile strings where the server puts text.
    with gateway.client(headers=gateway.auth()) as client:
        result = client.get(f"/v1/jobs/{finished['jobId']}").json()["result"]
        timeline = client.get(f"/v1/jobs/{finished['jobId']}/timeline.svg").text
    result["model"] = {**result["model"], "name": HOSTILE, "kind": "demo"}
    result["warnings"] = [HOSTILE]
    result["score_interval"] = {"low": 0.41, "high": 0.63, "level": 0.9}
    result["reasons"] = ["heavy_compression", "near_threshold", HOSTILE]
    result["members"] = {"xception": 0.81, "efficientnet": 0.35}
    result["provenance"] = {
        "present": True,
        "valid": True,
        "trusted": False,
        "signer": HOSTILE,
        "claim_generator": "Camera 1.0",
        "signed_at": "2026-01-02T03:04:05Z",
        "digital_source_types": ["trainedAlgorithmicMedia"],
        "ai_generated": True,
        "ai_edited": False,
        "validation_errors": ["signingCredential.untrusted"],
    }
    scores = [0.2, 0.9, 0.6]
    explanations = []
    for i, score in enumerate(scores):
        face, heat = _face_and_heatmap(i)
        explanations.append(
            {"frame": i, "t_s": i * 0.1, "score": score, "box": [0, 0, 1, 1],
             "face_png": face, "heatmap_png": heat}
        )  # fmt: skip
    # Not a PNG data URL: never shown.
    explanations.append({**explanations[0], "score": 0.99, "face_png": "javascript:alert(1)"})
    track = result["tracks"][0]
    track["members"] = {"xception": 0.7, "efficientnet": 0.1}
    track["explanations"] = explanations
    hostile_svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        '<script>window.pwned=3</script><rect width="5" height="5" onclick="x()"/>'
        '<foreignObject><p>html</p></foreignObject><a href="javascript:x"><text>t</text></a>'
        "</svg>"
    )
    page = browser.new_sized_page()
    try:
        page.call("Page.navigate", url=f"{gateway.url}/ui")
        page.wait_for("document.body && document.body.dataset.ready === 'true'", 20)
        shown = page.evaluate(_RENDER % json.dumps([result, timeline]), await_promise=True)
        # The browser decodes every thumbnail and heatmap (data: URLs the policy allows).
        decoded = page.wait_for(
            "[...document.querySelectorAll('#explanations img')].every("
            "(img) => img.complete && img.naturalWidth === 96)",
            10,
        )
        page.pump(0.5)
        errors = _errors(page.events)
        _screenshot(page, EXPLAINED_SCREENSHOT)
        # A hostile timeline: parsing it already trips the policy (an event handler
        # attribute, blocked), and what is kept of it is inert.
        before = len(page.events)
        svg = page.evaluate(
            "import('/ui/render.js').then((r) => {"
            f" const svg = r.parseTimeline({json.dumps(hostile_svg)});"
            " document.getElementById('timeline').replaceChildren(svg);"
            " return [svg.outerHTML, window.pwned === undefined]; })",
            await_promise=True,
        )
        page.pump(0.5)
        svg_errors = _errors(page.events[before:])
    finally:
        page.close()
    assert errors == [], json.dumps(errors, indent=1)
    assert shown["pwned"] is None
    assert shown["lanes"] == len(result["tracks"])
    assert shown["modelName"] == HOSTILE and shown["warnings"] == [HOSTILE]
    # The interval and each reason in words under the verdict; an unknown code as text.
    assert shown["reasons"] == (
        "90% interval 0.410–0.630. Careful: the video is heavily compressed; "
        f"the score is too close to the threshold to call; {HOSTILE}"
    )
    assert shown["demoHidden"] is False
    # Content credentials beside the verdict, the signer as text.
    assert shown["provenanceHidden"] is False
    assert HOSTILE in shown["provenance"]
    assert "signingCredential.untrusted" in shown["provenance"]
    # A column per member; the video's member scores listed apart.
    assert shown["head"] == ["Track", "Score", "Frames", "efficientnet", "xception"]
    assert shown["rows"][0][3:] == ["0.100", "0.700"]
    assert shown["videoMembersHidden"] is False
    assert shown["videoMembers"] == ["0.810", "0.350"]
    # Most suspicious first; the entry without a PNG is left out; each face has its heatmap.
    assert [c.rsplit("score ", 1)[1] for c in shown["captions"]] == ["0.900", "0.600", "0.200"]
    assert shown["heatmaps"] == 3 and decoded is True
    assert all(src.startswith("data:image/png;base64") for src in shown["images"])
    assert len(shown["images"]) == 6
    # The SVG keeps its shapes and loses everything active.
    markup, not_run = svg
    assert not_run is True
    assert "<rect" in markup
    for banned in ("script", "onclick", "foreignObject", "href", "<a", "html"):
        assert banned not in markup, banned
    assert all(
        e["method"] == "Log.entryAdded"
        and e["params"]["entry"]["source"] == "security"
        and "The action has been blocked" in e["params"]["entry"]["text"]
        for e in svg_errors
    ), svg_errors
