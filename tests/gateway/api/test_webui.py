"""The web page's files and the timeline image over real HTTPS: headers, policy, errors."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gateway.api.webui import UI_DIR, UI_FILES
from tests.conftest import GatewayHandle
from tests.videos import write_clip

#: The page's policy, spelled out: a change to it must be a change to this test too.
EXPECTED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data_in: dict[str, str] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] in {"script", "style"}:
            self.data_in[self._open[-1]] = self.data_in.get(self._open[-1], "") + data


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    parser = _Tags()
    parser.feed((UI_DIR / "index.html").read_text(encoding="utf-8"))
    tags = parser.tags
    scripts = [a for t, a in tags if t == "script"]
    assert scripts == [{"type": "module", "src": "/ui/app.js"}]
    assert not parser.data_in.get("script", "").strip()
    assert not [t for t, _ in tags if t == "style"]
    sheets = [a["href"] for t, a in tags if t == "link" and a.get("rel") == "stylesheet"]
    assert sheets == ["/ui/style.css"]
    for tag, attrs in tags:
        assert "style" not in attrs, tag
        assert not [n for n in attrs if n.startswith("on")], tag
        for name in ("src", "href", "action"):
            value = attrs.get(name) or ""
            # Nothing from another origin, nothing that runs.
            assert not re.match(r"^(https?:)?//|^javascript:", value), (tag, value)


def test_the_scripts_write_no_html_and_no_cookie() -> None:
    script = "\n".join(
        (UI_DIR / name).read_text(encoding="utf-8") for name in UI_FILES if name.endswith(".js")
    )
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert "document.cookie" not in script
    assert "localStorage" not in script
    assert "sessionStorage.setItem" in script


@pytest.mark.parametrize("path", ["/ui", *[f"/ui/{name}" for name in UI_FILES]])
def test_every_file_of_the_page_has_its_policy(gateway: GatewayHandle, path: str) -> None:
    name = path.removeprefix("/ui").lstrip("/") or "index.html"
    with gateway.client() as client:  # no API key: the files are public
        response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == EXPECTED_CSP
    assert response.headers["content-type"] == UI_FILES[name]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    assert "set-cookie" not in response.headers
    assert response.content == (UI_DIR / name).read_bytes()


@pytest.mark.parametrize(
    "path", ["/ui/missing.js", "/ui/..%2Fapp.py", "/ui/%2e%2e%2Fsettings.py", "/ui/ui/app.js"]
)
def test_nothing_else_is_served_under_ui(gateway: GatewayHandle, path: str) -> None:
    with gateway.client() as client:
        response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    # An error keeps the strict API policy.
    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )


def test_ui_with_a_slash_redirects_to_the_page(gateway: GatewayHandle) -> None:
    with gateway.client() as client:
        response = client.get("/ui/")
    assert response.status_code == 308
    assert response.headers["location"] == "/ui"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("webui") / "clip.mp4", frames=10, fps=10)


def _wait(gateway: GatewayHandle, job_id: str, timeout_s: float = 60.0) -> dict:
    with gateway.client(headers=gateway.auth()) as client:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["status"] not in {"queued", "running"}:
                return job
            time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['status']}")


def _submit(gateway: GatewayHandle, clip: Path, **params: object) -> str:
    with gateway.client(headers=gateway.auth()) as client:
        response = client.post(
            "/v1/jobs",
            params=params,
            headers={"Content-Type": "video/mp4"},
            content=clip.read_bytes(),
        )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_the_timeline_of_a_succeeded_job_is_its_svg(gateway: GatewayHandle, clip: Path) -> None:
    # explain=true is what the page sends; a parameter the version cannot use is ignored.
    job = _wait(gateway, _submit(gateway, clip, explain="true"))
    assert job["status"] == "succeeded"
    with gateway.client(headers=gateway.auth()) as client:
        response = client.get(f"/v1/jobs/{job['id']}/timeline.svg")
        anonymous = client.get(f"/v1/jobs/{job['id']}/timeline.svg", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
    root = ET.fromstring(response.text)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    assert root.find(".//svg:line[@id='threshold']", ns) is not None
    lanes = root.findall(".//svg:g[@class='lane']", ns)
    assert len(lanes) == len(job["result"]["tracks"])
    points = root.find(".//svg:polyline[@id='score']", ns).get("points").split()
    assert len(points) == len(job["result"]["timeline"])
    assert anonymous.status_code == 401


def test_a_job_without_a_result_has_no_timeline(gateway: GatewayHandle, clip: Path) -> None:
    # A version Serving does not have: the job fails in its worker.
    job = _wait(gateway, _submit(gateway, clip, model_version=99))
    assert job["status"] == "failed"
    with gateway.client(headers=gateway.auth()) as client:
        failed = client.get(f"/v1/jobs/{job['id']}/timeline.svg")
        missing = client.get("/v1/jobs/no-such-job/timeline.svg")
    assert failed.status_code == 409
    assert failed.json()["error"]["code"] == "job_has_no_result"
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "job_not_found"
