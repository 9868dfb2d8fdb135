"""The kind of manipulation of each labelled clip, from its source folder and file name.

Every rule is data, in :data:`RULES`, transcribed from ``SOURCES.md`` of the shared clips
(each folder's section says what made its fakes). A REAL clip is always ``real``; a FAKE
clip takes the kind of the first rule whose source folder matches and whose pattern matches
its file name, else :data:`UNSPECIFIED`. Rules name the folder, not the data set, because
the same data set reaches us through different folders with different processing.

Kinds:

* ``face_swap``: another person's face put on the target (FF++ Deepfakes, DFDC,
  DeeperForensics DF-VAE, DeepFaceLive);
* ``reenactment``: the target's own face driven to new expressions (FF++ Face2Face,
  NeuralTextures);
* ``lip_sync``: only the mouth re-synthesised to new speech (Wav2Lip-384);
* ``talking_head``: a whole head animated from one still image (SadTalker, EDTalk,
  DreamTalk);
* ``real``: genuine footage;
* ``unspecified``: a fake whose method its source does not state (LRNet's FF++ clips).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FACE_SWAP = "face_swap"
REENACTMENT = "reenactment"
LIP_SYNC = "lip_sync"
TALKING_HEAD = "talking_head"
REAL = "real"
UNSPECIFIED = "unspecified"
#: Every kind, in the order reports list them.
KINDS = (FACE_SWAP, REENACTMENT, LIP_SYNC, TALKING_HEAD, UNSPECIFIED, REAL)


@dataclass(frozen=True)
class Rule:
    """FAKE clips of ``source`` whose file name matches ``pattern`` are of ``kind``."""

    source: str
    pattern: str
    kind: str
    #: Where the kind is stated (section of ``SOURCES.md``, or the clip's ``subtype``).
    basis: str


RULES: tuple[Rule, ...] = (
    Rule(
        "ffpp-c23_icpr2020dfdc", r"^ffpp_Deepfakes_", FACE_SWAP, "SOURCES.md §1: autoencoder swap"
    ),
    Rule("ffpp-c23_icpr2020dfdc", r"^ffpp_Face2Face_", REENACTMENT, "SOURCES.md §1"),
    Rule("ffpp-c23_icpr2020dfdc", r"^ffpp_NeuralTextures_", REENACTMENT, "SOURCES.md §1"),
    Rule("dfdc_icpr2020dfdc", r"", FACE_SWAP, "SOURCES.md §2: DFDC train fakes"),
    Rule("dfdc-facecrops_jphdotam", r"", FACE_SWAP, "SOURCES.md §4: DFDC train part 0"),
    Rule("deeperforensics-challenge", r"", FACE_SWAP, "SOURCES.md §3: DF-VAE swap"),
    Rule("lrnet-demo", r"^lrnet_dfo_", FACE_SWAP, "SOURCES.md §10: DeeperForensics face swap"),
    Rule("lrnet-demo", r"^lrnet_ff", UNSPECIFIED, "SOURCES.md §10: method not stated"),
    Rule("sadtalker-generated", r"", TALKING_HEAD, "SOURCES.md §6: one-image synthesis"),
    Rule(
        "deepfacelive-dfm-split",
        r"",
        FACE_SWAP,
        "SOURCES.md, added 2026-12-06: DeepFaceLive DFM real-time swap (right halves)",
    ),
    Rule("edtalk", r"", TALKING_HEAD, "SOURCES.md, added 2026-12-06: EDTalk one-shot talking head"),
    Rule(
        "dreamtalk-mead",
        r"",
        TALKING_HEAD,
        "SOURCES.md, added 2026-12-06: DreamTalk diffusion talking head",
    ),
    Rule(
        "wav2lip384-primepake",
        r"",
        LIP_SYNC,
        "SOURCES.md, added 2026-12-06: Wav2Lip variant at 384x384 (facial dubbing)",
    ),
)


def manipulation_kind(source: str, file_name: str, label: int) -> str:
    """The kind of the clip ``file_name`` of source folder ``source`` labelled ``label``."""
    if not label:
        return REAL
    for rule in RULES:
        if rule.source == source and re.search(rule.pattern, file_name):
            return rule.kind
    return UNSPECIFIED
