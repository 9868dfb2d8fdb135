"""A detection result's timeline as an SVG image (``GET /v1/jobs/{id}/timeline.svg``).

One pure function, :func:`render_timeline`: the per-frame score as a line over time, the
decision threshold as a dashed horizontal line, and below it one lane per face track with
a mark at each sampled frame where the track appears, coloured by the face's score there.

The document is built with :mod:`xml.etree.ElementTree`, so every string from the result
(the model name, for one) is escaped as XML text or attribute; it holds no script, no
event attribute and no external reference, so it is inert wherever it is shown.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

SVG_NS = "http://www.w3.org/2000/svg"
MEDIA_TYPE = "image/svg+xml"

#: Geometry in SVG user units (the image scales to its box).
WIDTH = 800
MARGIN_LEFT = 96
MARGIN_RIGHT = 16
PLOT_TOP = 28
PLOT_HEIGHT = 160
LANE_GAP = 24
LANE_HEIGHT = 20
AXIS_BOTTOM = 28

_SCORE_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _num(value: float) -> str:
    """A coordinate with two decimals, without trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def score_colour(score: float) -> str:
    """Green (0, real) through amber to red (1, fake), as ``#rrggbb``."""
    s = min(max(float(score), 0.0), 1.0)
    # Two linear segments: green -> amber -> red.
    if s < 0.5:
        r, g, b = 46 + (230 - 46) * s * 2, 160, 67 - 67 * s * 2
    else:
        r, g, b = 230 - (230 - 200) * (s - 0.5) * 2, 160 - 160 * (s - 0.5) * 2, 0
    return f"#{int(r):02x}{int(g):02x}{int(b):02x}"


def plot_y(score: float) -> float:
    """The y coordinate of ``score`` in the score plot (1 at the top)."""
    s = min(max(float(score), 0.0), 1.0)
    return PLOT_TOP + (1.0 - s) * PLOT_HEIGHT


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: object) -> ET.Element:
    # Attribute names use "_" for "-" (stroke_width -> stroke-width); a trailing "_" is dropped.
    element = ET.SubElement(
        parent, tag, {k.rstrip("_").replace("_", "-"): str(v) for k, v in attrs.items()}
    )
    if text is not None:
        element.text = text
    return element


def _face_scores(timeline: Sequence[Mapping[str, Any]]) -> dict[tuple[int, int], float]:
    """(frame index, track id) -> the score of that track's face in that frame."""
    found: dict[tuple[int, int], float] = {}
    for index, point in enumerate(timeline):
        for face in point.get("faces") or []:
            if "track" in face and "score" in face:
                found[(index, int(face["track"]))] = float(face["score"])
    return found


def render_timeline(result: Mapping[str, Any]) -> str:
    """The SVG document (text) of ``result``, a detection response as JSON."""
    timeline: Sequence[Mapping[str, Any]] = result.get("timeline") or []
    tracks: Sequence[Mapping[str, Any]] = result.get("tracks") or []
    threshold = float(result.get("threshold", 0.5))
    times = [float(p.get("t_s", 0.0)) for p in timeline]
    video = result.get("video") or {}
    end_s = max([float(video.get("duration_s") or 0.0), *times, 0.0]) or 1.0
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    lanes_top = PLOT_TOP + PLOT_HEIGHT + LANE_GAP
    height = lanes_top + len(tracks) * LANE_HEIGHT + AXIS_BOTTOM

    def x(t_s: float) -> float:
        return MARGIN_LEFT + t_s / end_s * plot_width

    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "viewBox": f"0 0 {WIDTH} {_num(height)}",
            "width": str(WIDTH),
            "height": _num(height),
            "role": "img",
            "font-family": "sans-serif",
            "font-size": "11",
        },
    )
    model = result.get("model") or {}
    title = (
        f"Per-frame fake score of model {model.get('name', '?')} "
        f"version {model.get('version', '?')}, threshold {threshold:g}"
    )
    _el(svg, "title", title)
    _el(svg, "rect", x=0, y=0, width=WIDTH, height=_num(height), fill="#ffffff")

    # The score axis and its grid.
    axis = _el(svg, "g", id="score-axis", stroke="#dddddd", fill="#555555")
    for tick in _SCORE_TICKS:
        y = _num(plot_y(tick))
        _el(axis, "line", x1=MARGIN_LEFT, x2=WIDTH - MARGIN_RIGHT, y1=y, y2=y)
        _el(axis, "text", f"{tick:g}", x=MARGIN_LEFT - 6, y=y, text_anchor="end", stroke="none")
    _el(svg, "text", "score", x=8, y=PLOT_TOP - 10, fill="#333333")

    # The threshold, then the per-frame score on top of it.
    ty = _num(plot_y(threshold))
    _el(
        svg,
        "line",
        id="threshold",
        x1=MARGIN_LEFT,
        x2=WIDTH - MARGIN_RIGHT,
        y1=ty,
        y2=ty,
        stroke="#c62828",
        stroke_width=1.5,
        stroke_dasharray="6 4",
    )
    _el(
        svg,
        "text",
        f"threshold {threshold:g}",
        x=WIDTH - MARGIN_RIGHT,
        y=_num(plot_y(threshold) - 4),
        text_anchor="end",
        fill="#c62828",
    )
    points = " ".join(
        f"{_num(x(t))},{_num(plot_y(float(p.get('score', 0.0))))}"
        for t, p in zip(times, timeline, strict=True)
    )
    if points:
        _el(
            svg,
            "polyline",
            id="score",
            points=points,
            fill="none",
            stroke="#1565c0",
            stroke_width=2,
        )
        dots = _el(svg, "g", id="frames", fill="#1565c0")
        for t, p in zip(times, timeline, strict=True):
            _el(dots, "circle", cx=_num(x(t)), cy=_num(plot_y(float(p.get("score", 0.0)))), r=2.5)

    # One lane per face track: a mark wherever the track has a face.
    faces = _face_scores(timeline)
    mark = max(3.0, min(12.0, plot_width / max(len(timeline), 1) * 0.8))
    lanes = _el(svg, "g", id="tracks")
    for lane, track in enumerate(tracks):
        track_id = int(track.get("id", lane))
        track_score = float(track.get("score", 0.0))
        top = lanes_top + lane * LANE_HEIGHT
        group = _el(lanes, "g", class_="lane", data_track=track_id)
        _el(
            group,
            "text",
            f"track {track_id} ({track_score:.2f})",
            x=MARGIN_LEFT - 6,
            y=_num(top + LANE_HEIGHT * 0.65),
            text_anchor="end",
            fill="#333333",
        )
        _el(
            group,
            "rect",
            x=MARGIN_LEFT,
            y=_num(top + 2),
            width=plot_width,
            height=LANE_HEIGHT - 4,
            fill="#f3f3f3",
        )
        for frame in track.get("frames") or []:
            index = int(frame)
            if not 0 <= index < len(times):
                continue
            score = faces.get((index, track_id), track_score)
            _el(
                group,
                "rect",
                class_="mark",
                x=_num(x(times[index]) - mark / 2),
                y=_num(top + 2),
                width=_num(mark),
                height=LANE_HEIGHT - 4,
                fill=score_colour(score),
            )

    # The time axis under the lanes.
    bottom = lanes_top + len(tracks) * LANE_HEIGHT + 4
    ticks = 5
    time_axis = _el(svg, "g", id="time-axis", fill="#555555")
    for i in range(ticks + 1):
        t = end_s * i / ticks
        _el(
            time_axis, "text", f"{t:.1f} s", x=_num(x(t)), y=_num(bottom + 14), text_anchor="middle"
        )
    return ET.tostring(svg, encoding="unicode", xml_declaration=False)
