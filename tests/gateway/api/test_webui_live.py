"""The live page's files over real HTTPS: /ui/live is live.html with the page's policy, which
lets its script reach this origin's WebSocket and nothing else; no inline code."""

from __future__ import annotations

import re

from gateway.api.security_headers import UI_CSP
from gateway.api.webui import UI_DIR
from tests.conftest import GatewayHandle
from tests.gateway.api.test_webui import _Tags


def test_ui_live_is_the_live_page_with_the_pages_policy(gateway: GatewayHandle) -> None:
    with gateway.client() as client:  # no API key: the files are public
        index = client.get("/ui")
        page = client.get("/ui/live")
        script = client.get("/ui/live.js")
        sheet = client.get("/ui/live.css")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.content == (UI_DIR / "live.html").read_bytes()
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert sheet.headers["content-type"] == "text/css; charset=utf-8"
    for response in (page, script, sheet):
        assert response.headers["content-security-policy"] == UI_CSP
        assert "set-cookie" not in response.headers
    # 'self' covers wss:// to this host (CSP 3): the one socket the page opens.
    assert "connect-src 'self'" in UI_CSP
    assert 'href="/ui/live"' in index.text


def test_the_live_page_has_no_inline_script_style_or_handler() -> None:
    parser = _Tags()
    parser.feed((UI_DIR / "live.html").read_text(encoding="utf-8"))
    tags = parser.tags
    assert [a for t, a in tags if t == "script"] == [{"type": "module", "src": "/ui/live.js"}]
    assert not parser.data_in.get("script", "").strip()
    assert not [t for t, _ in tags if t == "style"]
    sheets = [a["href"] for t, a in tags if t == "link" and a.get("rel") == "stylesheet"]
    assert sheets == ["/ui/style.css", "/ui/live.css"]
    for tag, attrs in tags:
        assert "style" not in attrs, tag
        assert not [n for n in attrs if n.startswith("on")], tag
        for name in ("src", "href", "action"):
            assert not re.match(r"^(https?:)?//|^javascript:", attrs.get(name) or ""), tag
