"""The messages of ``/v1/live`` (docs/live.md) as pydantic models, and its close codes.

Client text is read by :func:`parse_client_text` alone: a JSON object of a known ``type``
whose fields validate, else :class:`ProtocolError` (a 4400 close). Server messages are
built from the models below and sent as their JSON.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

#: The subprotocol the server accepts; ``key.<api key>`` beside it carries the key.
SUBPROTOCOL = "deepfake-live.v1"
KEY_PREFIX = "key."

#: Close codes (docs/live.md, "Limits and closes").
CLOSE_NORMAL = 1000
CLOSE_TRY_AGAIN = 1013
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TIMEOUT = 4408
CLOSE_TOO_LARGE = 4413
CLOSE_UNSUPPORTED = 4415
CLOSE_TOO_MANY = 4429

#: The containers a video stream may come in, by the name PyAV opens them with.
CONTAINERS = {
    "webm": "webm",
    "matroska": "matroska",
    "mp4": "mp4",
    "mpegts": "mpegts",
    "ivf": "ivf",
}
Container = Literal["webm", "matroska", "mp4", "mpegts", "ivf"]
#: The longest client text message read (a hello is far shorter).
MAX_TEXT_BYTES = 4096


class ProtocolError(Exception):
    """A client message that breaks the protocol: an ``error`` and a close follow."""

    def __init__(self, code: str, message: str, close_code: int = CLOSE_BAD_REQUEST) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Hello(_Message):
    """Opens a session: which version scores, what comes, how long the window is."""

    type: Literal["hello"]
    api_key: str | None = Field(None, min_length=1, max_length=512)
    model_version: int | None = Field(None, ge=1)
    model_label: str | None = Field(None, pattern=r"^[A-Za-z0-9_]{1,64}$")
    input: Literal["images", "video"] = "images"
    container: Container | None = None
    window: float = Field(10.0, ge=1.0, le=60.0)
    operating_point: str | None = Field(None, pattern=r"^[A-Za-z0-9_]{1,64}$")


class End(_Message):
    """No more frames."""

    type: Literal["end"]


ClientMessage = Annotated[Hello | End, Field(discriminator="type")]
_CLIENT = TypeAdapter(ClientMessage)


def parse_client_text(text: str) -> Hello | End:
    """The client message ``text``; :class:`ProtocolError` when it is none."""
    if len(text) > MAX_TEXT_BYTES:
        raise ProtocolError("bad_request", f"text messages are at most {MAX_TEXT_BYTES} bytes")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProtocolError("bad_request", "a text message must be a JSON object") from exc
    if not isinstance(data, dict):
        raise ProtocolError("bad_request", "a text message must be a JSON object")
    if data.get("type") not in ("hello", "end"):
        raise ProtocolError("bad_request", "unknown message type; expected 'hello' or 'end'")
    try:
        message = _CLIENT.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "message"
        message_text = f"invalid {data['type']}: {where}: {first['msg']}"
        raise ProtocolError("bad_request", message_text) from exc
    if isinstance(message, Hello):
        if message.model_version is not None and message.model_label is not None:
            raise ProtocolError("bad_request", "give model_version or model_label, not both")
        if message.container is not None and message.input != "video":
            raise ProtocolError("bad_request", "container is only for input 'video'")
    return message


def key_from_subprotocols(offered: list[str]) -> str | None:
    """The API key offered as a ``key.<key>`` subprotocol, if any."""
    for name in offered:
        if name.startswith(KEY_PREFIX) and len(name) > len(KEY_PREFIX):
            return name[len(KEY_PREFIX) :]
    return None


class ModelName(BaseModel):
    name: str
    version: int


class Ready(BaseModel):
    type: Literal["ready"] = "ready"
    session: str
    model: ModelName
    max_fps: float
    max_seconds: float
    window: float
    credit: int


class Credit(BaseModel):
    type: Literal["credit"] = "credit"
    frames: int


class TrackState(BaseModel):
    id: int
    score: float
    verdict: str
    frames: int
    box: list[float] | None


class FaceState(BaseModel):
    box: list[float]
    score: float
    detection_score: float
    track: int


class Latency(BaseModel):
    last: float | None
    p95: float | None


class Verdict(BaseModel):
    type: Literal["verdict", "summary"] = "verdict"
    t: float
    frames_seen: int
    frames_scored: int
    frames_dropped: int
    score: float | None
    verdict: str | None
    threshold: float
    aggregation: str
    tracks: list[TrackState]
    faces: list[FaceState]
    frame_size: list[int] | None
    latency_ms: Latency


class Summary(Verdict):
    type: Literal["summary"] = "summary"  # type: ignore[assignment]
    sha256: str
    receipt: str | None


class Error(BaseModel):
    type: Literal["error"] = "error"
    code: str
    message: str
