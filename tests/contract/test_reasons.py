"""Reason codes: each rule on synthetic frames."""

from __future__ import annotations

import typing

import pytest

from contract.aggregation import Face, FrameResult, decide
from contract.reasons import (
    FRAMES_DISAGREE_IQR,
    INCONCLUSIVE_REASONS,
    MIN_BITS_PER_PIXEL,
    MIN_SCORED_FRAMES,
    REASON_CODES,
    REASON_DESCRIPTIONS,
    ReasonCode,
    bits_per_pixel,
    verdict_reasons,
)


def _frames(scores: list[float], box: list[float] | None = None) -> list[FrameResult]:
    return [
        FrameResult(
            t_s=float(i),
            score=s,
            faces=[Face(box=box, detection_score=0.99, score=s)] if box is not None else [],
        )
        for i, s in enumerate(scores)
    ]


def _reasons(frames: list[FrameResult], face_aware: bool, **kwargs: object) -> list[str]:
    verdict = decide(frames, face_aware=face_aware, threshold=0.5, aggregation="mean")
    return verdict_reasons(verdict, frames, face_aware=face_aware, width=640, height=480, **kwargs)  # type: ignore[arg-type]


def test_every_code_is_described_once() -> None:
    assert set(REASON_CODES) == set(typing.get_args(ReasonCode)) == set(REASON_DESCRIPTIONS)
    assert all(REASON_DESCRIPTIONS[c].strip() for c in REASON_CODES)
    assert set(INCONCLUSIVE_REASONS) <= set(REASON_CODES)


def test_a_clear_verdict_has_no_reasons() -> None:
    assert _reasons(_frames([0.9] * 32), face_aware=False, bits_per_pixel=0.1) == []


def test_no_face() -> None:
    assert "no_face" in _reasons(_frames([0.9] * 32), face_aware=True)
    assert "no_face" not in _reasons(_frames([0.9] * 32, [0.1, 0.1, 0.6, 0.5]), face_aware=True)


def test_face_too_small() -> None:
    # 0.1 of 480 rows and of 640 columns: a 64-pixel face.
    small = _frames([0.9] * 32, [0.4, 0.4, 0.5, 0.5])
    assert "face_too_small" in _reasons(small, face_aware=True, face_input_side=128)
    assert "face_too_small" not in _reasons(small, face_aware=True, face_input_side=60)
    # A version that does not say its crop size never gets the code.
    assert "face_too_small" not in _reasons(small, face_aware=True)


def test_too_few_frames() -> None:
    assert "too_few_frames" in _reasons(_frames([0.9] * (MIN_SCORED_FRAMES - 1)), False)
    assert "too_few_frames" not in _reasons(_frames([0.9] * MIN_SCORED_FRAMES), False)


def test_heavy_compression() -> None:
    # 100 kbit/s of 640x480 at 30 fps: 0.011 bits per pixel per frame.
    bpp = bits_per_pixel(100_000, 640, 480, 30.0)
    assert bpp == pytest.approx(100_000 / (640 * 480 * 30))
    assert bpp is not None and bpp < MIN_BITS_PER_PIXEL
    frames = _frames([0.9] * 32)
    assert "heavy_compression" in _reasons(frames, False, bits_per_pixel=bpp)
    assert "heavy_compression" not in _reasons(frames, False, bits_per_pixel=0.1)
    assert "heavy_compression" not in _reasons(frames, False, bits_per_pixel=None)
    assert bits_per_pixel(None, 640, 480, 30.0) is None
    assert bits_per_pixel(100_000, 640, 480, 0.0) is None


def test_near_threshold_makes_the_verdict_inconclusive() -> None:
    frames = _frames([0.3, 0.7] * 16)
    verdict = decide(frames, face_aware=False, threshold=0.5, aggregation="mean")
    assert verdict.verdict == "inconclusive"
    assert "near_threshold" in _reasons(frames, False)
    assert "near_threshold" not in _reasons(_frames([0.3] * 32), False)


def test_frames_disagree() -> None:
    # The middle half spans 0.1 to 0.9: well over the stated range.
    spread = _frames([0.1, 0.9] * 16)
    assert FRAMES_DISAGREE_IQR < 0.8
    assert "frames_disagree" in _reasons(spread, False)
    assert "frames_disagree" not in _reasons(_frames([0.85, 0.9, 0.95] * 10), False)


def test_codes_come_in_the_stated_order() -> None:
    frames = _frames([0.1, 0.9] * 3)
    codes = _reasons(frames, False, bits_per_pixel=0.001)
    assert codes == ["too_few_frames", "heavy_compression", "near_threshold", "frames_disagree"]
