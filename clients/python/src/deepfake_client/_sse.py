"""An incremental parser of Server-Sent Events (``text/event-stream``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class SseEvent:
    """One Server-Sent Event."""

    event: str = "message"
    data: str = ""
    id: str | None = None

    def json(self) -> Any:
        """The event's data as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.data)
        except ValueError:
            return None


class SseParser:
    """Incremental ``text/event-stream`` parser: feed lines, get events."""

    def __init__(self) -> None:
        self._event = "message"
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> SseEvent | None:
        """Take one line (without its newline); an event when a blank line ends one."""
        if not line:
            if not self._data:
                self._event = "message"
                return None
            event = SseEvent(self._event, "\n".join(self._data), self._id)
            self._event, self._data = "message", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None
