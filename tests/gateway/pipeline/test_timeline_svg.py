"""The timeline SVG renderer: well-formed, the threshold where it belongs, a lane per track."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from gateway.pipeline.timeline_svg import PLOT_HEIGHT, PLOT_TOP, render_timeline, score_colour

NS = {"svg": "http://www.w3.org/2000/svg"}


def _result(threshold: float = 0.5, tracks: int = 2, frames: int = 6, **extra: Any) -> dict:
    timeline = [
        {
            "t_s": i * 0.2,
            "score": (i + 1) / (frames + 1),
            "faces": [
                {"box": [0, 0, 1, 1], "score": 0.1 + 0.8 * k / max(tracks, 1), "track": k,
                 "detection_score": 0.9}
                for k in range(tracks)
                if (i + k) % 2 == 0
            ],
        }
        for i in range(frames)
    ]  # fmt: skip
    return {
        "verdict": "fake",
        "score": 0.7,
        "threshold": threshold,
        "model": {"name": "deepfake", "version": 3, "kind": "detector"},
        "video": {"duration_s": frames * 0.2},
        "timeline": timeline,
        "tracks": [
            {
                "id": k,
                "score": 0.2 + 0.3 * k,
                "frames": [i for i in range(frames) if (i + k) % 2 == 0],
            }
            for k in range(tracks)
        ],
        **extra,
    }


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.85, 1.0])
def test_the_threshold_line_is_at_its_score(threshold: float) -> None:
    root = _parse(render_timeline(_result(threshold)))
    line = root.find(".//svg:line[@id='threshold']", NS)
    assert line is not None
    expected = PLOT_TOP + (1 - threshold) * PLOT_HEIGHT
    assert float(line.get("y1")) == pytest.approx(expected, abs=0.01)
    assert line.get("y1") == line.get("y2")
    # The score line's points use the same scale: a frame scored at the threshold sits on it.
    result = _result(threshold, frames=1)
    result["timeline"][0]["score"] = threshold
    (point,) = _parse(render_timeline(result)).find(".//svg:polyline", NS).get("points").split()
    assert float(point.split(",")[1]) == pytest.approx(expected, abs=0.01)


def test_one_point_per_frame_and_higher_scores_higher_up() -> None:
    result = _result(frames=6)
    points = _parse(render_timeline(result)).find(".//svg:polyline[@id='score']", NS)
    coords = [tuple(map(float, p.split(","))) for p in points.get("points").split()]
    assert len(coords) == 6
    xs = [x for x, _ in coords]
    ys = [y for _, y in coords]
    assert xs == sorted(xs) and len(set(xs)) == 6  # time runs left to right
    assert ys == sorted(ys, reverse=True)  # rising scores: smaller y (SVG y points down)


@pytest.mark.parametrize("tracks", [0, 1, 3])
def test_one_lane_per_track_with_a_mark_per_appearance(tracks: int) -> None:
    result = _result(tracks=tracks)
    root = _parse(render_timeline(result))
    lanes = root.findall(".//svg:g[@class='lane']", NS)
    assert [int(g.get("data-track")) for g in lanes] == [t["id"] for t in result["tracks"]]
    for lane, track in zip(lanes, result["tracks"], strict=True):
        marks = lane.findall("svg:rect[@class='mark']", NS)
        assert len(marks) == len(track["frames"])
        # Coloured by the face's own score in that frame.
        faces = {
            i: f["score"]
            for i, p in enumerate(result["timeline"])
            for f in p["faces"]
            if f["track"] == track["id"]
        }
        assert [m.get("fill") for m in marks] == [score_colour(faces[i]) for i in track["frames"]]


def test_lanes_grow_the_image() -> None:
    one = _parse(render_timeline(_result(tracks=1)))
    three = _parse(render_timeline(_result(tracks=3)))
    assert float(three.get("height")) > float(one.get("height"))


def test_hostile_strings_are_escaped_and_nothing_active_is_emitted() -> None:
    hostile = '</title><script>alert(1)</script><a href="javascript:x" onload="y">&'
    result = _result()
    result["model"]["name"] = hostile
    result["model"]["version"] = '"><script>2</script>'
    svg = render_timeline(result)
    root = _parse(svg)  # still well-formed
    assert "<script" not in svg
    assert root.find(".//svg:title", NS).text.startswith(f"Per-frame fake score of model {hostile}")
    for element in root.iter():
        assert element.tag.rsplit("}", 1)[-1] not in {"script", "a", "foreignObject", "image"}
        assert not [name for name in element.attrib if name.startswith("on") or "href" in name]


def test_colours_run_from_green_to_red() -> None:
    assert score_colour(0.0) == "#2ea043"
    assert score_colour(1.0) == "#c80000"
    reds = [int(score_colour(s / 10)[1:3], 16) for s in range(6)]
    assert reds == sorted(reds)  # more red up to the middle


def test_an_empty_result_still_draws_axes_and_threshold() -> None:
    root = _parse(render_timeline({"threshold": 0.4, "timeline": [], "tracks": []}))
    assert root.find(".//svg:line[@id='threshold']", NS) is not None
    assert root.find(".//svg:polyline", NS) is None
