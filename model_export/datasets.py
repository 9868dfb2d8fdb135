"""Find labelled videos in the layouts people keep them in, grouped for leak-free splits.

Layouts (detected per root, several roots may be combined):

* FaceForensics++: ``original_sequences/**/<id>.mp4`` (REAL) and
  ``manipulated_sequences/<method>/**/<target>_<source>.mp4`` (FAKE);
* DFDC: one ``metadata.json`` per part, ``{"x.mp4": {"label": "FAKE", "original": "y.mp4"}}``;
* folders: ``real/`` and ``fake/`` (any depth below them);
* ``labels.csv`` files with ``file`` and ``label`` (REAL/FAKE) columns.

A real clip and every clip made from it share a group (connected components over the ids a
clip names: its own, its DFDC original, both FF++ ids), so splits by group never put a
source on both sides. Each clip also names its ``source``: the immediate subfolder of the
root it was found under (the root's own name for clips directly in it), which
leave-one-source-out evaluation holds out as a whole (:mod:`model_export.protocol`).
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
LABELS = {"REAL": 0, "FAKE": 1}


@dataclass(frozen=True)
class LabelledVideo:
    """One labelled clip; ``group`` keeps it on one side of a split with its relatives.

    ``source`` is the folder the clip came from (the root's immediate subfolder).
    """

    path: Path
    label: int
    group: str
    layout: str
    source: str = ""


def source_of(root: Path, path: Path) -> str:
    """The source folder of ``path`` under ``root``: its first component below ``root``."""
    parts = Path(path).relative_to(root).parts
    return parts[0] if len(parts) > 1 else Path(root).resolve().name


def _videos(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)


def _ffpp(root: Path) -> list[tuple[Path, int, set[str]]]:
    found = []
    for path in _videos(root / "original_sequences"):
        found.append((path, 0, {f"ffpp:{path.stem}"}))
    for path in _videos(root / "manipulated_sequences"):
        found.append((path, 1, {f"ffpp:{part}" for part in path.stem.split("_")}))
    return found


def _dfdc(root: Path) -> list[tuple[Path, int, set[str]]]:
    found = []
    for meta_path in sorted(root.rglob("metadata.json")):
        meta = json.loads(meta_path.read_text())
        for name, entry in sorted(meta.items()):
            path = meta_path.parent / name
            if not path.is_file():
                continue
            keys = {f"dfdc:{Path(name).stem}"}
            if entry.get("original"):
                keys.add(f"dfdc:{Path(entry['original']).stem}")
            found.append((path, LABELS[str(entry["label"]).upper()], keys))
    return found


def _folders(root: Path) -> list[tuple[Path, int, set[str]]]:
    found = []
    for label_name, label in (("real", 0), ("fake", 1)):
        for path in _videos(root / label_name):
            found.append((path, label, {f"dir:{path.stem}"}))
    return found


# Clip names that embed the id of the clip they were made from.
_FFPP_NAME = re.compile(r"^ffpp_[A-Za-z0-9]+_(\d+)(?:_(\d+))?$")
_DFDC_TRACK = re.compile(r"^([a-z]{10})_\d+_\d+$")


def _labels_csv(root: Path) -> list[tuple[Path, int, set[str]]]:
    found = []
    for csv_path in sorted(root.rglob("labels.csv")):
        with csv_path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                path = csv_path.parent / row["file"]
                label = str(row.get("label", "")).upper()
                if label not in LABELS or path.suffix.lower() not in VIDEO_SUFFIXES:
                    continue
                if not path.is_file():
                    continue
                keys = {f"csv:{path.stem}"}
                if match := _FFPP_NAME.match(path.stem):
                    keys |= {f"ffpp:{g}" for g in match.groups() if g}
                if match := _DFDC_TRACK.match(path.stem):
                    keys.add(f"dfdc:{match.group(1)}")
                found.append((path, LABELS[label], keys))
    return found


def detect_layout(root: Path) -> str:
    """Name of the layout of ``root``: ``ffpp``, ``dfdc``, ``folders`` or ``labels_csv``."""
    if (root / "original_sequences").is_dir() or (root / "manipulated_sequences").is_dir():
        return "ffpp"
    if any(root.rglob("metadata.json")):
        return "dfdc"
    if (root / "real").is_dir() or (root / "fake").is_dir():
        return "folders"
    if any(root.rglob("labels.csv")):
        return "labels_csv"
    raise ValueError(f"no known data set layout under {root}")


_READERS = {"ffpp": _ffpp, "dfdc": _dfdc, "folders": _folders, "labels_csv": _labels_csv}


def _group_names(items: Sequence[set[str]]) -> list[str]:
    """Connected components over shared ids; each named by its smallest id."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for keys in items:
        first, *rest = sorted(keys)
        for key in rest:
            a, b = find(first), find(key)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return [find(min(keys)) for keys in items]


def discover(roots: Iterable[Path]) -> list[LabelledVideo]:
    """All labelled videos under ``roots``, each root read in its own layout."""
    raw: list[tuple[Path, int, set[str], str, str]] = []
    for root in roots:
        root = Path(root)
        layout = detect_layout(root)
        entries = _READERS[layout](root)
        log.info("found %d labelled videos in %s (%s layout)", len(entries), root, layout)
        raw += [(path, label, keys, layout, source_of(root, path)) for path, label, keys in entries]
    groups = _group_names([keys for _, _, keys, _, _ in raw])
    return [
        LabelledVideo(path, label, group, layout, source)
        for (path, label, _, layout, source), group in zip(raw, groups, strict=True)
    ]


def split_by_group(
    videos: Sequence[LabelledVideo], fractions: Sequence[float], seed: int = 0
) -> list[list[LabelledVideo]]:
    """Split into ``len(fractions)`` parts of about those shares of the groups.

    Groups are dealt largest first to the part furthest below its share, so that each part
    gets close to its share of clips and every part with a non-zero share gets a group when
    there are enough groups.
    """
    by_group: dict[str, list[LabelledVideo]] = {}
    for video in videos:
        by_group.setdefault(video.group, []).append(video)
    names = sorted(by_group)
    np.random.default_rng(seed).shuffle(names)
    names.sort(key=lambda g: -len(by_group[g]))
    shares = np.asarray(fractions, dtype=np.float64) / np.sum(fractions)
    parts: list[list[LabelledVideo]] = [[] for _ in fractions]
    total = len(videos)
    for name in names:
        deficit = shares * total - np.array([len(p) for p in parts])
        parts[int(np.argmax(deficit))].extend(by_group[name])
    return parts
