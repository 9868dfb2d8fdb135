"""The live session's parts on their own: the message parser, the credit ledger, the
bounded byte pipe, and the rolling window's stable track ids (fast, no servers)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from contract.aggregation import Face, FrameResult
from gateway.api.live.credit import CreditLedger
from gateway.api.live.frames import BytePipe
from gateway.api.live.protocol import (
    CLOSE_TOO_MANY,
    End,
    Hello,
    ProtocolError,
    key_from_subprotocols,
    parse_client_text,
)
from gateway.api.live.window import RollingWindow


def test_a_hello_and_an_end_parse_and_anything_else_is_a_bad_request() -> None:
    hello = parse_client_text('{"type": "hello", "input": "video", "container": "ivf"}')
    assert isinstance(hello, Hello) and hello.window == 10 and hello.container == "ivf"
    assert isinstance(parse_client_text('{"type": "end"}'), End)
    for text in (
        "[]",
        "{",
        '{"type": "frame"}',
        '{"type": "hello", "window": 0}',
        '{"type": "hello", "container": "webm"}',  # a container without input "video"
        '{"type": "hello", "model_version": 1, "model_label": "stable"}',
        '{"type": "hello", "extra": 1}',
        '{"type": "hello", "api_key": ""}',
        " " * 5000,
    ):
        with pytest.raises(ProtocolError) as caught:
            parse_client_text(text)
        assert caught.value.code == "bad_request"


def test_the_key_comes_from_its_subprotocol_only() -> None:
    assert key_from_subprotocols(["deepfake-live.v1", "key.abc"]) == "abc"
    assert key_from_subprotocols(["deepfake-live.v1", "key."]) is None
    assert key_from_subprotocols(["deepfake-live.v1"]) is None


def test_credit_is_paced_bounded_and_an_overrun_ends_the_session() -> None:
    now = [0.0]
    ledger = CreditLedger(window=4, rate=5.0, overrun_limit=3, clock=lambda: now[0])
    assert ledger.grant() == 4  # the burst
    for _ in range(4):
        assert ledger.take()
    assert ledger.grant() == 0  # all four in hand
    ledger.done(4)
    assert ledger.grant() == 0  # no token yet: paced to 5 a second
    now[0] = 0.4
    assert ledger.grant() == 2
    assert ledger.take() and ledger.take()
    # Without credit: dropped, and past the limit the session ends.
    assert [ledger.take() for _ in range(3)] == [False] * 3
    with pytest.raises(ProtocolError) as caught:
        ledger.take()
    assert caught.value.close_code == CLOSE_TOO_MANY


def test_unpaced_credit_refills_as_messages_are_done() -> None:
    ledger = CreditLedger(window=2, rate=None, overrun_limit=8)
    assert ledger.grant() == 2 and ledger.take() and ledger.take()
    ledger.done(1)
    assert ledger.grant() == 1


def test_the_pipe_holds_no_more_than_its_capacity_and_ends_cleanly() -> None:
    async def run() -> tuple[bytes, bool]:
        pipe = BytePipe(8)
        read: list[bytes] = []

        def reader() -> None:
            while chunk := pipe.read(3):
                read.append(chunk)

        await pipe.put(b"12345678")
        # Full: the next put waits until the thread has read enough.
        waiting = asyncio.create_task(pipe.put(b"abcd"))
        await asyncio.sleep(0.05)
        was_waiting = not waiting.done() and pipe.held == 8
        thread = threading.Thread(target=reader)
        thread.start()
        await waiting
        pipe.close()
        await asyncio.to_thread(thread.join, 10)
        return b"".join(read), was_waiting

    data, was_waiting = asyncio.run(run())
    assert was_waiting and data == b"12345678abcd"


def test_an_aborted_pipe_ends_the_reader_at_once() -> None:
    async def run() -> bytes:
        pipe = BytePipe(16)
        await pipe.put(b"held")
        pipe.abort()
        return await asyncio.to_thread(pipe.read)

    assert asyncio.run(run()) == b""


def _frame(t: float, boxes: list[list[float]]) -> FrameResult:
    faces = [Face(box=b, detection_score=0.9, score=0.7, slot=i) for i, b in enumerate(boxes)]
    return FrameResult(t_s=t, score=0.7, faces=faces)


def test_track_ids_stay_the_same_as_the_window_slides() -> None:
    window = RollingWindow(seconds=2.0, threshold=0.5, aggregation="mean")
    left, right = [0.1, 0.1, 0.5, 0.4], [0.1, 0.6, 0.5, 0.9]
    # Two faces for 4 s, then only the right one: the window's first track is the stream's 1.
    frames = [_frame(t / 2, [left, right]) for t in range(8)]
    frames += [_frame(4 + t / 2, [right]) for t in range(6)]
    window.add(frames, [(200, 100)] * len(frames), [0.01] * len(frames), face_aware=True)
    state = window.state(t=7.0, seen=14, dropped=0)
    assert [t.id for t in state.tracks] == [1]
    assert state.tracks[0].box == [120.0, 10.0, 180.0, 50.0]  # x0, y0, x1, y1 in pixels
    assert state.faces[0].track == 1 and state.frame_size == [200, 100]
    whole = window.state(t=7.0, seen=14, dropped=0, whole=True)
    assert sorted(t.id for t in whole.tracks) == [0, 1]
    assert whole.verdict == "fake" and whole.frames_scored == 14
