"""The web page in a real headless Chromium with a still image: the file input offers
images, and the one-frame answer is shown as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import GatewayHandle
from tests.gateway.api.ui.conftest import Browser
from tests.images import face_scene, write_image

pytestmark = pytest.mark.slow

_READ_PAGE = """(() => ({
  accept: document.getElementById('video').accept,
  verdict: document.getElementById('verdict').textContent,
  frames: document.getElementById('frames').textContent,
  kind: document.getElementById('frames').dataset.kind,
  error: document.getElementById('error').hidden ? null
    : document.getElementById('error').textContent,
}))()"""


def test_the_page_analyses_a_photo(
    browser: Browser, gateway: GatewayHandle, shared_data: Path, tmp_path: Path
) -> None:
    photo = write_image(tmp_path / "photo.webp", face_scene(shared_data), orientation=6)
    page = browser.new_page()
    try:
        for domain in ("Page", "Runtime"):
            page.call(f"{domain}.enable")
        page.call("Page.navigate", url=f"{gateway.url}/ui")
        page.wait_for("document.body && document.body.dataset.ready === 'true'", 20)
        page.type_into("#api-key", gateway.api_key)
        page.call("DOM.setFileInputFiles", files=[str(photo)], nodeId=page.node_id("#video"))
        page.click("#analyze")
        ended = "['done', 'error'].includes(document.body.dataset.state)"
        state = page.wait_for(f"{ended} && document.body.dataset.state", 90)
        shown = page.evaluate(_READ_PAGE)
        assert state == "done", shown["error"]
        assert {"image/jpeg", "image/png", "image/webp"} <= set(shown["accept"].split(","))
        assert shown["verdict"] in ("real", "fake", "inconclusive")
        assert (shown["frames"], shown["kind"]) == ("1 (still image)", "image")
        assert [e for e in page.events if e["method"] == "Runtime.exceptionThrown"] == []
    finally:
        page.close()
