"""``/v1/live``'s limits and closes against the real gateway: keys, streams per key,
credit, idle and silent clients, a client that never reads, oversize and undecodable
frames, malformed messages, and the session length limit (docs/live.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import GatewayHandle, ServingHandle, wait_for
from tests.gateway.api.live.client import jpeg_frames, metric, open_live
from tests.gateway.api.live.conftest import KEYS, LIVE_ENV

pytestmark = pytest.mark.slow

HELLO = {"type": "hello"}
SESSIONS = "gateway_live_sessions"


def _closed(gateway: GatewayHandle, reason: str) -> float:
    return metric(gateway, f'gateway_live_closed_total{{reason="{reason}"}}')


def test_no_key_or_a_wrong_key_is_closed_with_4401(live_gateway: GatewayHandle) -> None:
    async def run() -> list[tuple[dict, int | None]]:
        outcomes = []
        for kwargs in (
            {"hello": HELLO},  # no key anywhere
            {"hello": {"type": "hello", "api_key": "not-a-key"}},
            {"key": "not-a-key"},  # refused at once, before any hello
            {},  # nothing sent at all: the hello's time runs out
        ):
            client = await open_live(live_gateway, **kwargs)  # type: ignore[arg-type]
            error = await client.until("error")
            code, _ = await client.closed()
            outcomes.append((error, code))
        return outcomes

    before = _closed(live_gateway, "unauthenticated")
    outcomes = asyncio.run(run())
    assert [code for _, code in outcomes] == [4401] * 4
    assert [e["code"] for e, _ in outcomes] == [
        "missing_api_key",
        "invalid_api_key",
        "invalid_api_key",
        "missing_api_key",
    ]
    assert _closed(live_gateway, "unauthenticated") == before + 4


def test_a_frame_before_the_hello_or_a_bad_hello_is_closed_with_4400(
    live_gateway: GatewayHandle,
) -> None:
    async def run() -> list[tuple[str, int | None]]:
        outcomes = []
        for first in (b"\xff\xd8\xff", json.dumps({"type": "hello", "fps": 30}), "not json"):
            client = await open_live(live_gateway, key=KEYS[4])
            await client.ws.send(first)
            error = await client.until("error")
            code, _ = await client.closed()
            outcomes.append((error["code"], code))
        return outcomes

    assert asyncio.run(run()) == [("bad_request", 4400)] * 3


def test_a_version_that_does_not_exist_is_closed_with_4404(live_gateway: GatewayHandle) -> None:
    async def run() -> tuple[dict, int | None]:
        client = await open_live(live_gateway, key=KEYS[4], hello={**HELLO, "model_version": 99})
        error = await client.until("error")
        return error, (await client.closed())[0]

    error, code = asyncio.run(run())
    assert error["code"] == "model_not_found" and code == 4404


def test_streams_past_the_per_key_cap_are_refused_with_4429(live_gateway: GatewayHandle) -> None:
    async def run() -> tuple[dict, int | None, str]:
        held = [await open_live(live_gateway, key=KEYS[1], hello=HELLO) for _ in range(2)]
        for client in held:
            await client.until("ready")
        third = await open_live(live_gateway, key=KEYS[1], hello=HELLO)
        error = await third.until("error")
        code, _ = await third.closed()
        assert not third.of_type("ready")
        for client in held:
            await client.ws.close()
        # A slot comes back when its stream closes (once the server has seen the close).
        deadline = time.monotonic() + 10
        kind = ""
        while kind != "ready" and time.monotonic() < deadline:
            again = await open_live(live_gateway, key=KEYS[1], hello=HELLO)
            kind = (await again.next())["type"]
            await again.ws.close()
            await asyncio.sleep(0.1)
        return error, code, kind

    error, code, kind = asyncio.run(run())
    assert error["code"] == "too_many_streams" and code == 4429
    assert kind == "ready"


def test_frames_past_the_credit_are_dropped_then_closed_with_4429(
    live_gateway: GatewayHandle, face_clip: Path
) -> None:
    frame = jpeg_frames(face_clip, 1)[0]
    dropped = 'gateway_live_frames_total{outcome="dropped"}'

    async def run() -> tuple[dict, int | None]:
        client = await open_live(live_gateway, key=KEYS[2], hello=HELLO)
        ready = await client.until("ready")
        # Far past the credit (4) and the overrun (16), without reading a grant.
        for _ in range(ready["credit"] + 40):
            try:
                await client.ws.send(frame)
            except ConnectionClosed:
                break
        error = await client.until("error")
        return error, (await client.closed())[0]

    before = metric(live_gateway, dropped)
    error, code = asyncio.run(run())
    assert error["code"] == "rate_limited" and code == 4429
    # The overrun limit's worth of frames were dropped before the close.
    assert metric(live_gateway, dropped) >= before + 16
    assert _closed(live_gateway, "overrun") >= 1


def test_a_silent_client_gets_its_summary_and_an_idle_close(live_gateway: GatewayHandle) -> None:
    async def run() -> tuple[dict, int | None, str]:
        client = await open_live(live_gateway, key=KEYS[4], hello=HELLO)
        await client.until("ready")
        summary = await client.until("summary")
        code, reason = await client.closed()
        return summary, code, reason

    summary, code, reason = asyncio.run(run())
    assert code == 4408 and reason == "idle"
    # Nothing was scored: no verdict, so nothing for a receipt to sign.
    assert summary["frames_scored"] == 0 and summary["verdict"] is None
    assert summary["receipt"] is None


def test_a_client_that_never_reads_is_closed(live_gateway: GatewayHandle, face_clip: Path) -> None:
    frame = jpeg_frames(face_clip, 1)[0]

    def gone() -> float:
        return _closed(live_gateway, "disconnected") + _closed(live_gateway, "not_reading")

    async def run(before: float) -> bool:
        # The client library stops reading the socket once 2 messages wait unread, so that
        # the server's pings go unanswered, as they would for a stuck client.
        client = await open_live(live_gateway, key=KEYS[4], hello=HELLO, max_queue=2)

        async def keep_sending() -> None:
            # Frames keep coming (so it is never idle), slowly enough to stay within credit.
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await client.ws.send(frame)
                    await asyncio.sleep(0.4)

        sender = asyncio.create_task(keep_sending())
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                if await asyncio.to_thread(gone) > before:
                    return True
            return False
        finally:
            sender.cancel()
            client.ws.transport.abort()

    # Ping every idle time (2 s here), no pong within as long: the server closed it.
    assert asyncio.run(run(gone())), "the server never closed a client that reads nothing"
    wait_for(lambda: metric(live_gateway, SESSIONS) == 0, "no live session open", 10)


def test_an_oversize_frame_is_closed_with_4413(live_gateway: GatewayHandle) -> None:
    limit = int(LIVE_ENV["GATEWAY_LIVE_MAX_FRAME_BYTES"])

    async def run() -> tuple[dict, int | None]:
        client = await open_live(live_gateway, key=KEYS[4], hello=HELLO)
        await client.until("ready")
        await client.ws.send(b"\xff\xd8\xff" + bytes(limit))
        error = await client.until("error")
        return error, (await client.closed())[0]

    error, code = asyncio.run(run())
    assert error["code"] == "frame_too_large" and code == 4413


def test_garbage_frames_are_dropped_then_closed_with_4415(live_gateway: GatewayHandle) -> None:
    async def run() -> tuple[dict, dict, int | None]:
        client = await open_live(live_gateway, key=KEYS[4], hello=HELLO)
        await client.until("ready")
        for _ in range(2):
            await client.send_with_credit(b"not an image at all")
        while True:
            verdict = await client.until("verdict")
            if verdict["frames_dropped"] == 2:
                break
        await client.send_with_credit(b"\x89PNG\r\n\x1a\n truncated")
        error = await client.until("error")
        return verdict, error, (await client.closed())[0]

    verdict, error, code = asyncio.run(run())
    # Two undecodable frames were dropped and the session went on; the third in a row ends it.
    assert verdict["frames_seen"] == 2 and verdict["frames_scored"] == 0
    assert error["code"] == "invalid_image" and code == 4415


def test_a_session_past_its_length_gets_its_summary_and_4408(
    serving: ServingHandle,
    gateway_factory: Callable[..., GatewayHandle],
    face_clip: Path,
    tmp_path: Path,
) -> None:
    gateway = gateway_factory(
        serving.target, GATEWAY_API_KEYS="short", GATEWAY_LIVE_MAX_SECONDS="3"
    )
    frames = jpeg_frames(face_clip, 40)

    async def run() -> tuple[dict, int | None, str, int]:
        client = await open_live(gateway, key="short", hello=HELLO)
        await client.until("ready")
        sent = 0
        try:
            for frame in frames:
                await client.send_with_credit(frame)
                sent += 1
                await asyncio.sleep(0.2)
        except ConnectionClosed:
            pass
        summary = next(iter(client.of_type("summary")), None) or await client.until("summary")
        code, reason = await client.closed()
        return summary, code, reason, sent

    summary, code, reason, sent = asyncio.run(run())
    assert code == 4408 and reason == "session_too_long"
    assert 1 <= summary["frames_scored"] <= sent < len(frames)
    assert summary["receipt"]
