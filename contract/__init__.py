"""The wire contract shared by ``model_export``, ``serving`` and ``gateway``.

The three programs never import each other; they agree only on what is written
here and in the package's modules:

* this module: the SavedModel signature names, dtypes and shapes, the layout of a
  model base path, the verdict labels and :func:`sequence_windows`;
* :mod:`contract.sampling`: how many frames a video is scored on and which ones;
* :mod:`contract.frames`: the size, RGB pixels and orientation of a sampled frame, and the
  pick loop every decoder runs;
* :mod:`contract.tracks`: faces linked across sampled frames into tracks, by box overlap;
* :mod:`contract.aggregation`: per-frame scores and tracks to a video score, its interval and
  a verdict;
* :mod:`contract.reasons`: the reason codes an answer carries and the rules behind them;
* :mod:`contract.face_schedule`: which frames faces are detected on, and the boxes between;
* :mod:`contract.reencode`: the re-encoded and transformed copies of a clip that the stability
  probe scores (evaluation's ``--robustness`` and the gateway's ``robustness=true``);
* :mod:`contract.audio`: the audio track's rate, cap, ``classify_audio`` signature and cut/pad
  rule (exported here too); :mod:`contract.audio_decode` its one decode;
* :mod:`contract.motion`: the talking-head member's ``classify_motion`` signature;
  :mod:`contract.combination` and :mod:`contract.member_verdict`: a track member's join.

This module is the one table of names the three programs read. It must not import TensorFlow
(the slim gateway uses it), nor ``gateway``, ``model_export``, ``serving``, ``stack`` or
``bench``; PyAV and numpy are allowed.

Signature ``serving_default`` (every exported version):

========================  =======  ==============  =======================================
name                      dtype    shape           meaning
========================  =======  ==============  =======================================
``frames`` (input)        uint8    [N, H, W, 3]    raw RGB frames, any size; all
                                                   preprocessing happens in the graph
``fake_probability``      float32  [N]             probability that frame n is fake
``threshold``             float32  [N]             decision threshold calibrated for
                                                   this version, the same in every
                                                   row (score >= threshold means
                                                   "fake")
========================  =======  ==============  =======================================

Face-aware versions add, per frame and for at most ``F`` faces (padded):

========================  =======  ==============  =======================================
``face_boxes``            float32  [N, F, 4]       ``[y1, x1, y2, x2]`` in [0, 1]
``face_scores``           float32  [N, F]          detector confidence, 0 for padding
``face_fake_probability`` float32  [N, F]          fake probability per face
``face_count``            int32    [N]             number of valid faces in the frame
========================  =======  ==============  =======================================

Every output has the batch dimension first: TF Serving's server-side batching
splits each output along dimension 0 and refuses a scalar output ("Batched output
tensor has 0 dimensions"), so the threshold is repeated per row.

and a second signature ``classify_faces`` that takes already cropped faces
(``faces``: uint8 [N, H, W, 3]) and returns ``fake_probability`` [N].

Face-aware versions whose classifier has a convolution also have ``explain``: where in each
face the classifier saw a fake. It takes ``frames`` (uint8 [N, H, W, 3], e.g. a few frames
already scored, sent again) and runs the same detector and crops as ``serving_default``, so a
frame's faces come back in the same slots (the gateway still matches them by box):

==========================  =======  =================  ===================================
``face_boxes``              float32  [N, F, 4]          as in ``serving_default``
``face_crop_boxes``         float32  [N, F, 4]          the region each crop was cut from
                                                        (the box and its margin), normalised
                                                        ``[y1, x1, y2, x2]``; may pass the
                                                        frame's edges (cut as black)
``face_count``              int32    [N]                as in ``serving_default``
``face_fake_probability``   float32  [N, F]             as in ``serving_default`` (up to
                                                        float rounding)
``face_crops``              uint8    [N, F, S, S, 3]    the crops classified (zeros for
                                                        padding)
``face_heatmaps``           float32  [N, F, h, w]       Grad-CAM of the fake logit on the
                                                        classifier's last spatial feature
                                                        map, ReLU, divided by its maximum:
                                                        in [0, 1], 1 where the evidence for
                                                        "fake" is strongest, all 0 when there
                                                        is none; at the feature map's own
                                                        resolution (h x w, e.g. 7 x 7), and
                                                        covering the crop exactly
==========================  =======  =================  ===================================

Face-aware versions exported by ``model_export`` also split ``serving_default`` in two, so
that a client may detect faces on a few frames only and follow them on the others
(:mod:`contract.face_schedule`):

* ``detect_faces``: ``frames`` uint8 [N, H, W, 3] (any size; boxes are normalised, so a
  downscaled frame gives the boxes of the full one) -> ``face_boxes``, ``face_scores``,
  ``face_count`` as in ``serving_default``;
* ``classify_boxes``: ``frames`` uint8 [N, H, W, 3], ``face_boxes`` float32 [N, F, 4],
  ``face_scores`` float32 [N, F], ``face_count`` int32 [N] -> every output of
  ``serving_default`` (whole frame where ``face_count`` is 0; ``face_scores`` passed
  through; ``face_crops`` for sequence versions), cut and scored by the same code. Given
  ``detect_faces``' answer on the same frames it answers what ``serving_default`` does.

Versions without them (whole-frame ones, older exports) are asked ``serving_default`` alone.

Ensembles have no ``explain`` (their members' convolutions are inside restored graphs,
on different grids); neither have whole-frame versions.

Every version exported by ``model_export`` also has ``model_info``, which describes the
version so that a client can prepare frames before it sends any:

========================  =======  ==============  =======================================
``frames`` (input)        uint8    [N, H, W, 3]    anything (one 1x1 frame will do); only
                                                   N is used
``threshold``             float32  [N]             as in ``serving_default``
``frame_min_side``        int32    [N]             the shorter frame side the version needs:
                                                   larger frames only cost transfer and
                                                   resizing; > 0 also says the graph
                                                   stretches whole frames to its input, so
                                                   a client may stretch them too (0: no
                                                   preference, send frames at the client's
                                                   own size and aspect)
``sequence_length``       int32    [N]             faces per window of ``classify_sequence``
                                                   (0: the version has no sequence head)
``model_kind``            int32    [N]             what the version is, as a code of
                                                   :data:`MODEL_KIND_CODES`: 1 a detector,
                                                   2 the synthetic demo (not a detector)
``operating_points``      string   [N]             the version's named thresholds, a JSON
                                                   list of objects with at least ``name``
                                                   and ``threshold`` (calibrated scale);
                                                   ``balanced`` is the shipped threshold
========================  =======  ==============  =======================================

A version without ``operating_points`` (exported before it existed, or elsewhere) has one,
``balanced``: its ``threshold``.
Face-aware versions may add ``face_input_side`` (int32 [N]): the side of the square face crop
their classifier was trained at, so that a client can tell when a face was upscaled to it
(absent or 0: not said).
Versions exported since it existed add ``model_digest`` (string [N]): ``sha256:<hex>`` of the
version's SavedModel as exported (its graph with this output's placeholder, its variables
and assets; ``model_export.digest``), so that a client learns through Serving which files
answered. Absent in older versions and those exported elsewhere.

``model_kind`` is an int32 code rather than a string because the gateway decodes tensors
without TensorFlow and reads numeric dtypes only. Code 0 is never written, so that a zero-filled
answer cannot pass for a kind; 0, any unknown code and a ``model_info`` without ``model_kind``
(versions exported before it existed, or elsewhere) all read as ``"unknown"``
(:func:`model_kind_name`), which clients should treat as "not known to be a detector".

Versions without ``model_info`` (exported elsewhere) are served as before: the client
sends frames at its own size and reads the threshold from ``serving_default``.

Ensembles (several classifiers on the same face crops, one combined score) add to
``serving_default``, for ``M`` members:

================================  =======  ==========  ===================================
``member_fake_probability``       float32  [N, F, M]   each member's fake probability per
                                                       face (0 for padding)
``member_frame_fake_probability`` float32  [N, M]      each member's frame score (its most
                                                       suspicious face, or the whole frame)
================================  =======  ==========  ===================================

``fake_probability``, ``face_fake_probability`` and ``threshold`` are the combined ones;
``classify_faces`` also returns ``member_fake_probability`` [N, M], and ``model_info``
returns ``member_names`` (string [N, M]), the members in the order of the last axis.

Sequence models (CNN+GRU) add ``classify_sequence``: ``faces`` uint8 [B, T, H, W, 3],
one face track of T crops in time order per row, returning ``fake_probability`` [B]
and ``threshold`` [B]. It is a separate signature because Serving's batching may
merge requests, which must never mix the frames of two videos into one sequence.
A face-aware sequence version's ``serving_default`` also returns the crops it
classified, ``face_crops`` uint8 [N, F, S, S, 3] (zeros for padding), so that a client
builds sequences from exactly the crops the graph cut, never cutting its own; windows
over a track are :func:`sequence_windows`, as in training.
"""

from __future__ import annotations

from typing import Literal

from .audio import (
    AUDIO_COMBINATION_OUTPUT,
    AUDIO_FACE_COUNT,
    AUDIO_INPUT,
    AUDIO_MAX_SAMPLES,
    AUDIO_MAX_SECONDS,
    AUDIO_MEMBER,
    AUDIO_OFFSET,
    AUDIO_SAMPLE_RATE,
    AUDIO_SAMPLE_RATE_OUTPUT,
    AUDIO_SIGNATURE,
)

__all__ = [
    "AUDIO_COMBINATION_OUTPUT",
    "AUDIO_FACE_COUNT",
    "AUDIO_INPUT",
    "AUDIO_MAX_SAMPLES",
    "AUDIO_MAX_SECONDS",
    "AUDIO_MEMBER",
    "AUDIO_OFFSET",
    "AUDIO_SAMPLE_RATE",
    "AUDIO_SAMPLE_RATE_OUTPUT",
    "AUDIO_SIGNATURE",
    "CLASSIFY_BOXES_SIGNATURE",
    "DEFAULT_MODEL_NAME",
    "DETECT_SIGNATURE",
    "EXPLAIN_SIGNATURE",
    "FACES_INPUT",
    "FACES_SIGNATURE",
    "FACE_BOXES",
    "FACE_COUNT",
    "FACE_CROPS",
    "FACE_CROP_BOXES",
    "FACE_FAKE_PROBABILITY",
    "FACE_HEATMAPS",
    "FACE_INPUT_SIDE",
    "FACE_OUTPUTS",
    "FACE_SCORES",
    "FAKE_PROBABILITY",
    "FRAMES_INPUT",
    "FRAME_MIN_SIDE",
    "MEMBER_FAKE_PROBABILITY",
    "MEMBER_FRAME_FAKE_PROBABILITY",
    "MEMBER_NAMES",
    "MODEL_DIGEST",
    "MODEL_DIGEST_PLACEHOLDER",
    "MODEL_INFO_SIGNATURE",
    "MODEL_KIND",
    "MODEL_KINDS",
    "MODEL_KIND_CODES",
    "MODEL_KIND_DEMO",
    "MODEL_KIND_DETECTOR",
    "MODEL_KIND_UNKNOWN",
    "OPERATING_POINTS",
    "OPERATING_POINT_BALANCED",
    "OPERATING_POINT_HIGH_RECALL",
    "OPERATING_POINT_LOW_FALSE_POSITIVE",
    "REQUIRED_OUTPUTS",
    "SEQUENCE_LENGTH",
    "SEQUENCE_SIGNATURE",
    "SERVING_SIGNATURE",
    "THRESHOLD",
    "VERDICTS",
    "VERDICT_FAKE",
    "VERDICT_INCONCLUSIVE",
    "VERDICT_REAL",
    "WARMUP_RELATIVE_PATH",
    "ModelKind",
    "VerdictLabel",
    "is_version_dir_name",
    "model_kind_code",
    "model_kind_name",
    "sequence_windows",
]

#: Model name used when ``MODEL_NAME`` is not set.
DEFAULT_MODEL_NAME = "deepfake"

#: Signature every version must export; TF Serving's default signature key.
SERVING_SIGNATURE = "serving_default"
#: Signature of face-aware versions that classifies pre-cropped faces.
FACES_SIGNATURE = "classify_faces"
#: Signature of sequence (CNN+GRU) versions that classifies face tracks.
SEQUENCE_SIGNATURE = "classify_sequence"
#: Signature of face-aware versions that explains each face's score (Grad-CAM maps).
EXPLAIN_SIGNATURE = "explain"
#: Signature of face-aware versions that only finds faces (the first half of serving_default).
DETECT_SIGNATURE = "detect_faces"
#: Signature of face-aware versions that crops and scores faces at given boxes (the second half).
CLASSIFY_BOXES_SIGNATURE = "classify_boxes"
#: Signature that describes a version: its threshold and the frame size it needs.
MODEL_INFO_SIGNATURE = "model_info"

#: Input tensor of ``serving_default``: uint8 RGB frames [N, H, W, 3].
FRAMES_INPUT = "frames"
#: Input tensor of ``classify_faces``: uint8 RGB face crops [N, H, W, 3].
FACES_INPUT = "faces"

#: Output: per-frame fake probability, float32 [N].
FAKE_PROBABILITY = "fake_probability"
#: Output: the version's calibrated decision threshold, float32 [N] (one value repeated).
THRESHOLD = "threshold"
#: Output of ``model_info``: the shorter frame side the version needs, int32 [N] (0: any).
FRAME_MIN_SIDE = "frame_min_side"
#: Output of ``model_info``: faces per ``classify_sequence`` window, int32 [N] (0: none).
SEQUENCE_LENGTH = "sequence_length"
#: Output of ``model_info``: what the version is, an int32 code of :data:`MODEL_KIND_CODES` [N].
MODEL_KIND = "model_kind"
#: Output of ``model_info``: the version's named thresholds, a JSON list in a string [N].
OPERATING_POINTS = "operating_points"
#: The operating point of the threshold a version ships, used when a request names none.
OPERATING_POINT_BALANCED = "balanced"
#: The lowest threshold whose false-positive rate on the fit set is within a stated target.
OPERATING_POINT_LOW_FALSE_POSITIVE = "low_false_positive"
#: The highest threshold whose detection rate on the fit set reaches a stated target.
OPERATING_POINT_HIGH_RECALL = "high_recall"
#: Output of ``model_info`` (face-aware, optional): the face crop side trained at, int32 [N].
FACE_INPUT_SIDE = "face_input_side"
#: Output of ``model_info``: ``sha256:<64 hex>`` of the version's SavedModel, string [N]
#: (``model_export.digest`` says what is hashed and how to check it).
MODEL_DIGEST = "model_digest"
#: What ``model_info`` holds in place of :data:`MODEL_DIGEST` until the digest is written in:
#: the same length as a digest, so writing it in changes no other byte of the SavedModel.
MODEL_DIGEST_PLACEHOLDER = "sha256:" + "model-digest-not-yet-written-" + "0" * 35
#: Output (face-aware sequence versions): the face crops classified, uint8 [N, F, S, S, 3].
FACE_CROPS = "face_crops"
#: Output (face-aware): face boxes, float32 [N, F, 4], normalised y1, x1, y2, x2.
FACE_BOXES = "face_boxes"
#: Output (face-aware): detector confidence per face slot, float32 [N, F].
FACE_SCORES = "face_scores"
#: Output (face-aware): fake probability per face slot, float32 [N, F].
FACE_FAKE_PROBABILITY = "face_fake_probability"
#: Output (face-aware): number of valid face slots per frame, int32 [N].
FACE_COUNT = "face_count"
#: Output of ``explain``: the region each face crop was cut from, float32 [N, F, 4].
FACE_CROP_BOXES = "face_crop_boxes"
#: Output of ``explain``: Grad-CAM map per face in [0, 1], float32 [N, F, h, w].
FACE_HEATMAPS = "face_heatmaps"

#: Output (ensembles): each member's fake probability per face, float32 [N, F, M]
#: (``classify_faces``: [N, M]).
MEMBER_FAKE_PROBABILITY = "member_fake_probability"
#: Output (ensembles): each member's frame score, float32 [N, M].
MEMBER_FRAME_FAKE_PROBABILITY = "member_frame_fake_probability"
#: Output of ``model_info`` (ensembles): the members' names, string [N, M], in output order.
MEMBER_NAMES = "member_names"

#: Outputs every version has.
REQUIRED_OUTPUTS = (FAKE_PROBABILITY, THRESHOLD)
#: Outputs that mark a face-aware version.
FACE_OUTPUTS = (FACE_BOXES, FACE_SCORES, FACE_FAKE_PROBABILITY, FACE_COUNT)

#: Where TF Serving looks for warmup requests inside a version directory.
WARMUP_RELATIVE_PATH = "assets.extra/tf_serving_warmup_requests"

#: A video's verdict: the score ``>= threshold`` side, the other side, or (face-aware
#: versions) too few frames with faces to say.
VerdictLabel = Literal["real", "fake", "inconclusive"]
VERDICT_FAKE: VerdictLabel = "fake"
VERDICT_REAL: VerdictLabel = "real"
VERDICT_INCONCLUSIVE: VerdictLabel = "inconclusive"
#: Every verdict a video may get.
VERDICTS: tuple[VerdictLabel, ...] = (VERDICT_REAL, VERDICT_FAKE, VERDICT_INCONCLUSIVE)

#: What a version is: a detector, the synthetic demo (a plumbing check that detects nothing
#: real), or unknown (its ``model_info`` does not say).
ModelKind = Literal["detector", "demo", "unknown"]
MODEL_KIND_DETECTOR: ModelKind = "detector"
MODEL_KIND_DEMO: ModelKind = "demo"
MODEL_KIND_UNKNOWN: ModelKind = "unknown"
#: Every kind a client may be told.
MODEL_KINDS: tuple[ModelKind, ...] = (MODEL_KIND_DETECTOR, MODEL_KIND_DEMO, MODEL_KIND_UNKNOWN)
#: The int32 codes ``model_info`` writes in ``model_kind``; 0 is reserved (never written).
MODEL_KIND_CODES: dict[int, ModelKind] = {1: MODEL_KIND_DETECTOR, 2: MODEL_KIND_DEMO}


def model_kind_code(kind: str) -> int:
    """The ``model_kind`` code of ``kind`` (``detector`` or ``demo``); ValueError otherwise."""
    for code, name in MODEL_KIND_CODES.items():
        if name == kind:
            return code
    known = list(MODEL_KIND_CODES.values())
    raise ValueError(f"no model_kind code for {kind!r}; choose from {known}")


def model_kind_name(code: int | None) -> ModelKind:
    """The kind a ``model_kind`` code stands for; ``unknown`` for None, 0 or any other code."""
    if code is None:
        return MODEL_KIND_UNKNOWN
    return MODEL_KIND_CODES.get(int(code), MODEL_KIND_UNKNOWN)


def is_version_dir_name(name: str) -> bool:
    """Return True when ``name`` is a version directory as TF Serving sees it.

    TF Serving parses child names with ``absl::SimpleAtoi`` into int64 and skips
    anything else silently (file_system_storage_path_source.cc), so staging
    directories such as ``.tmp-00042`` are never loaded.
    """
    text = name.strip()
    if text.startswith(("+", "-")):
        sign, digits = text[0], text[1:]
    else:
        sign, digits = "", text
    if not digits.isdigit() or not digits.isascii():
        return False
    value = int(sign + digits)
    return -(2**63) <= value < 2**63


def sequence_windows(count: int, length: int) -> list[list[int]]:
    """Windows of ``length`` indices over ``count`` items in time order, half overlapping.

    The last window always ends on the last item, so that the end of a video is seen;
    fewer items than ``length`` give one window that repeats the last item. Training cuts
    its sequences this way and clients cut face tracks this way for ``classify_sequence``,
    and a track's score is the mean over its windows.
    """
    if length < 1:
        raise ValueError("sequence length must be at least 1")
    if count <= 0:
        return []
    stride = max(1, length // 2)
    starts = list(range(0, max(1, count - length + 1), stride))
    if count > length and starts[-1] != count - length:
        starts.append(count - length)
    return [[min(i, count - 1) for i in range(start, start + length)] for start in starts]
