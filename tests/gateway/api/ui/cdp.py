"""A minimal Chrome DevTools protocol client over the standard library and ``websockets``.

Enough to drive a page as a person would (navigate, choose a file, type, click) and to
read what it rendered; every event the page sends is kept for the test to inspect.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from websockets.sync.client import ClientConnection, connect


class CdpError(RuntimeError):
    """The browser answered a command with an error, or a page script threw."""


class Cdp:
    """One DevTools session (a page target), commands answered in order."""

    def __init__(self, ws_url: str) -> None:
        self._stack = contextlib.ExitStack()
        # Screenshots arrive as one large message.
        self.ws: ClientConnection = self._stack.enter_context(
            connect(ws_url, max_size=None, open_timeout=10)
        )
        self.events: list[dict[str, Any]] = []
        self._next_id = 0

    def close(self) -> None:
        self._stack.close()

    def _receive(self, timeout_s: float) -> dict[str, Any] | None:
        try:
            message = json.loads(self.ws.recv(timeout=timeout_s))
        except TimeoutError:
            return None
        if "id" not in message:
            self.events.append(message)
        return message

    def call(self, method: str, timeout_s: float = 30.0, **params: Any) -> dict[str, Any]:
        """Send ``method`` and return its result (events meanwhile go to ``events``)."""
        self._next_id += 1
        call_id = self._next_id
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            message = self._receive(left)
            if message is not None and message.get("id") == call_id:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error']}")
                return message.get("result", {})
        raise TimeoutError(f"{method}: no answer in {timeout_s} s")

    def pump(self, seconds: float) -> None:
        """Collect events for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._receive(left)

    def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        """The JSON value of ``expression`` in the page."""
        result = self.call(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=await_promise,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise CdpError(f"{expression[:80]!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float) -> Any:
        """Evaluate ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            self.pump(0.2)
        raise TimeoutError(f"{expression!r} still false after {timeout_s} s")

    def node_id(self, selector: str) -> int:
        """The DOM node id of the first element matching ``selector``."""
        root = self.call("DOM.getDocument", depth=0)["root"]["nodeId"]
        found = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        if not found:
            raise CdpError(f"no element matches {selector!r}")
        return found

    def click(self, selector: str) -> None:
        """A left click in the middle of the element, as the mouse would."""
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                type=kind,
                x=box[0],
                y=box[1],
                button="left" if kind != "mouseMoved" else "none",
                clickCount=1 if kind != "mouseMoved" else 0,
            )

    def type_into(self, selector: str, text: str) -> None:
        """Focus the element and type ``text`` as keyboard input."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", text=text)
