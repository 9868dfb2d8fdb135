"""Every demux the probe and decode stages start is closed, however it ends.

PyAV frees a demux generator's native read packet only when the generator is closed or
runs out; one dropped while suspended leaks it (:func:`contract.sampling.demuxed`). The
containers here hand out demuxes that are kept alive, so one left suspended stays
visible instead of being collected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import pytest

import gateway.pipeline.probe
import gateway.pipeline.video
from gateway.pipeline.probe import VideoLimits, probe
from gateway.pipeline.video import iter_frames

LIMITS = VideoLimits(max_duration_s=600, max_frames=100_000, max_pixels=3840 * 2160)


class _RecordingContainer:
    """An input container whose demux generators are all kept, to be checked afterwards."""

    def __init__(self, container: av.container.InputContainer, demuxes: list[Any]) -> None:
        self._container = container
        self._demuxes = demuxes

    def demux(self, *args: object, **kwargs: object) -> Iterator[av.Packet]:
        inner = self._container.demux(*args, **kwargs)

        def packets() -> Iterator[av.Packet]:
            # Closing this generator closes ``inner`` (``yield from`` forwards close()).
            yield from inner

        generator = packets()
        self._demuxes.append(generator)
        return generator

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def __enter__(self) -> _RecordingContainer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._container.close()


@pytest.fixture
def demuxes(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The demux generators of every container the probe and decode stages open."""
    started: list[Any] = []
    real_open = gateway.pipeline.probe.open_video

    def recording_open(path: Path) -> _RecordingContainer:
        return _RecordingContainer(real_open(path), started)

    monkeypatch.setattr(gateway.pipeline.probe, "open_video", recording_open)
    monkeypatch.setattr(gateway.pipeline.video, "open_video", recording_open)
    return started


def _suspended(demuxes: list[Any]) -> list[Any]:
    # A generator that was closed or ran out has no frame any more.
    return [g for g in demuxes if g.gi_frame is not None]


def test_probe_closes_the_demux_it_reads_the_first_frame_from(make_clip, demuxes) -> None:
    probe(make_clip(frames=30), LIMITS)
    assert demuxes
    assert _suspended(demuxes) == []


def test_decoding_with_seeks_and_keyframe_lookups_closes_every_demux(make_clip, demuxes) -> None:
    clip = make_clip(frames=300, fps=30, gop=15, width=160, height=120)
    info = probe(clip, LIMITS)
    demuxes.clear()
    frames = list(iter_frames(clip, info, [0.0, 4.0, 9.0], max_side=640))
    assert [round(f.t_s, 1) for f in frames] == [0.0, 4.0, 9.0]
    # The keyframe look-ups stop after one packet, the decode after each seek and once
    # the last target is picked: all of them early.
    assert len(demuxes) > 3
    assert _suspended(demuxes) == []


def test_a_decode_stopped_by_its_consumer_closes_every_demux(make_clip, demuxes) -> None:
    clip = make_clip(frames=90, fps=30, gop=15, width=160, height=120)
    info = probe(clip, LIMITS)
    demuxes.clear()
    frames = iter_frames(clip, info, [0.0, 1.0, 2.0], max_side=640)
    next(frames)
    frames.close()  # what the decode thread's generator gets when a request gives up
    assert demuxes
    assert _suspended(demuxes) == []
