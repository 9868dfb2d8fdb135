"""Response models of the gateway's API, generated from ``clients/python/openapi.json``.

Do not edit: run ``clients/python/scripts/generate_models.py`` after refreshing the snapshot.
Unknown fields are kept (``extra="allow"``) so that a newer gateway does not break an older
client.

Over 400 lines because it is generated: one model per schema of the API, regenerated whole.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AppliedOperatingPoint(BaseModel):
    """
    The operating point whose threshold decided a verdict.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    name: Annotated[str, Field(title="Name")]
    threshold: Annotated[float, Field(title="Threshold")]


class AudioMemberInfo(BaseModel):
    """
    A version's audio-visual member as ``GET /v1/models`` lists it: the rate it takes and
    how its score joins the video score (``sigmoid(visual * logit(video score) + audio *
    logit(member score) + bias)``, clipped to ``[floor, 1 - floor]``).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    audio: Annotated[float, Field(title="Audio")]
    """
    Weight of the member score's logit; 0: reported only.
    """
    bias: Annotated[float, Field(title="Bias")]
    """
    Added to the joined logit.
    """
    floor: Annotated[float, Field(title="Floor")]
    """
    Lowest probability shipped (and 1 - floor the highest).
    """
    sample_rate: Annotated[int, Field(title="Sample Rate")]
    """
    The rate, in Hz, the member takes (mono).
    """
    visual: Annotated[float, Field(title="Visual")]
    """
    Weight of the visual video score's logit.
    """


class AudioSummary(BaseModel):
    """
    What the upload's audio track is and, for versions with an audio-visual member, what
    that member scored. A scored member's score joins the video score by the version's
    fitted combination (``contract.combination.MemberCombination``); the tracks keep their visual
    scores. Without audio, the same version answers with ``present`` false and its visual
    score.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    offset_s: Annotated[float | None, Field(title="Offset S")] = None
    """
    The audio-video offset, in seconds, the member estimates; null unless the member learns it.
    """
    present: Annotated[bool, Field(title="Present")]
    """
    The upload has an audio stream the gateway could decode.
    """
    sample_rate: Annotated[int | None, Field(title="Sample Rate")] = None
    """
    The rate, in Hz, the audio was resampled to (mono) for the model; null when absent.
    """
    score: Annotated[float | None, Field(title="Score")] = None
    """
    The audio-visual member's fake probability, joined to the video score by the version's fitted combination (the tracks keep their visual scores); null when the version has no such member, the audio is absent or no face track lies within the audio.
    """
    seconds: Annotated[float | None, Field(title="Seconds")] = 0.0
    """
    Seconds of audio decoded, from the start, at most the contract's cap (8 s); 0 when absent.
    """


class DeliveryAttempt(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    at: Annotated[str, Field(title="At")]
    attempt: Annotated[int, Field(title="Attempt")]
    duration_ms: Annotated[float, Field(title="Duration Ms")]
    error: Annotated[str | None, Field(title="Error")] = None
    status: Annotated[int | None, Field(title="Status")] = None
    """
    The receiver's HTTP status, if it answered.
    """


class DeliveryResponse(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    attempts: Annotated[int, Field(title="Attempts")]
    created_at: Annotated[str, Field(title="Created At")]
    event: Annotated[str, Field(title="Event")]
    id: Annotated[str, Field(title="Id")]
    last_error: Annotated[str | None, Field(title="Last Error")]
    last_status: Annotated[int | None, Field(title="Last Status")]
    log: Annotated[list[DeliveryAttempt], Field(title="Log")]
    message_id: Annotated[str, Field(title="Message Id")]
    """
    The webhook-id header; the same on every attempt.
    """
    next_attempt_at: Annotated[str | None, Field(title="Next Attempt At")]
    state: Annotated[Literal["pending", "delivered", "failed", "stopped"], Field(title="State")]
    url: Annotated[str, Field(title="Url")]


class ErrorDetail(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    code: Annotated[str, Field(title="Code")]
    message: Annotated[str, Field(title="Message")]


class ErrorResponse(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    error: ErrorDetail


class FaceExplanation(BaseModel):
    """
    Where in one face the version saw a fake (``explain=true``).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    box: Annotated[list[float], Field(title="Box")]
    """
    [y1, x1, y2, x2] of the face, as in the timeline.
    """
    crop_box: Annotated[list[float], Field(title="Crop Box")]
    """
    [y1, x1, y2, x2] of the region both images show (the face and the margin the model classified), as fractions of the upright frame; may pass its edges.
    """
    face_png: Annotated[str, Field(title="Face Png")]
    """
    The face crop the model classified: data:image/png;base64 URL (RGB).
    """
    frame: Annotated[int, Field(title="Frame")]
    """
    Index into the timeline of the frame this face is in.
    """
    heatmap_png: Annotated[str, Field(title="Heatmap Png")]
    """
    Grad-CAM heatmap over face_png, the same size: data:image/png;base64 URL, 8-bit grayscale, 255 where the evidence for 'fake' is strongest, 0 where there is none.
    """
    score: Annotated[float, Field(title="Score")]
    """
    Fake probability of this face.
    """
    t_s: Annotated[float, Field(title="T S")]
    """
    Time of that frame in seconds.
    """


class FaceResult(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    box: Annotated[list[float], Field(title="Box")]
    """
    [y1, x1, y2, x2] as fractions of the upright frame.
    """
    detection_score: Annotated[float, Field(title="Detection Score")]
    members: Annotated[dict[str, float] | None, Field(title="Members")] = None
    """
    Ensembles: each member's fake probability of this face by member name; null for versions that are not ensembles.
    """
    score: Annotated[float, Field(title="Score")]
    """
    Fake probability of this face.
    """
    track: Annotated[int, Field(title="Track")]


class Health(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    detail: Annotated[str | None, Field(title="Detail")] = ""
    status: Annotated[str, Field(title="Status")]


class JobInput(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    duration_s: Annotated[float, Field(title="Duration S")]
    """
    Probed at submission (0 for a media URL).
    """
    media_url: Annotated[str | None, Field(title="Media Url")] = None
    """
    The URL the job fetches its media from (null for an upload).
    """
    sha256: Annotated[str, Field(title="Sha256")]
    """
    SHA-256 of the media (of a media URL: once fetched).
    """
    size_bytes: Annotated[int, Field(title="Size Bytes")]
    """
    Bytes of the media (of a media URL: 0 until fetched).
    """


class JobLinks(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    deliveries: Annotated[str, Field(title="Deliveries")]
    events: Annotated[str, Field(title="Events")]
    self: Annotated[str, Field(title="Self")]


class JobProgress(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    frames_done: Annotated[int | None, Field(title="Frames Done")] = 0
    """
    Frames scored by Serving so far.
    """
    frames_total: Annotated[int | None, Field(title="Frames Total")] = None
    """
    Frames that will be sampled.
    """
    stage: Annotated[str, Field(title="Stage")]
    """
    queued, fetch (a media URL), waiting (for a processing slot), decrypt, probe, inference, sequence, motion, aggregate, done
    """


class Jwk(BaseModel):
    """
    One public key (RFC 8037 OKP, Ed25519).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    alg: Annotated[str, Field(title="Alg")]
    """
    EdDSA
    """
    crv: Annotated[str, Field(title="Crv")]
    """
    Ed25519
    """
    kid: Annotated[str, Field(title="Kid")]
    """
    Its id: the RFC 7638 thumbprint; a receipt's header names it.
    """
    kty: Annotated[str, Field(title="Kty")]
    """
    OKP
    """
    use: Annotated[str, Field(title="Use")]
    """
    sig
    """
    x: Annotated[str, Field(title="X")]
    """
    The public key, base64url.
    """


class Jwks(BaseModel):
    """
    Every key receipts were signed with, newest (the one signing now) first.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    keys: Annotated[list[Jwk], Field(title="Keys")]


class ModelInfo(BaseModel):
    """
    The model version that answered a detection.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    kind: Annotated[Literal["detector", "demo", "unknown"] | None, Field(title="Kind")] = "unknown"
    """
    What the answering version says it is in its model_info: detector, demo (synthetic plumbing check, not a detector) or unknown (it does not say).
    """
    label: Annotated[str | None, Field(title="Label")] = None
    """
    The version label asked for, if any.
    """
    name: Annotated[str, Field(title="Name")]
    version: Annotated[int, Field(title="Version")]
    """
    The model version that actually answered.
    """


class MotionMemberInfo(BaseModel):
    """
    A version's talking-head member as ``GET /v1/models`` lists it: how its score joins
    the video score (``sigmoid(visual * logit(video score) + member * logit(member score) +
    bias)``, clipped to ``[floor, 1 - floor]``), before an audio-visual member's.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    bias: Annotated[float, Field(title="Bias")]
    """
    Added to the joined logit.
    """
    floor: Annotated[float, Field(title="Floor")]
    """
    Lowest probability shipped (and 1 - floor the highest).
    """
    member: Annotated[float, Field(title="Member")]
    """
    Weight of the member score's logit; 0: reported only.
    """
    visual: Annotated[float, Field(title="Visual")]
    """
    Weight of the visual video score's logit.
    """


class MotionSummary(BaseModel):
    """
    What a version's talking-head member scored: one face track's motion over time. A
    scored member's score joins the video score by the version's fitted combination
    (``contract.combination.MemberCombination``), before an audio-visual member's; the tracks
    keep their visual scores.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    score: Annotated[float | None, Field(title="Score")] = None
    """
    The talking-head member's fake probability, joined to the video score by the version's fitted combination (the tracks keep their visual scores); null when the version has no such member, no face track lay in the window or the upload is a still image (one frame holds no motion).
    """


class Provenance(BaseModel):
    """
    The upload's content credentials (its C2PA manifest store), as read and validated.

    Reported beside the verdict and never part of the score: a valid manifest tells who
    signed the file and what they declared about it, not whether its content is real; a
    missing one proves nothing.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    ai_edited: Annotated[bool | None, Field(title="Ai Edited")] = False
    """
    A manifest declares generative edits of other content: source type compositeWithTrainedAlgorithmicMedia, or an action other than c2pa.created whose source type is one of the generated ones.
    """
    ai_generated: Annotated[bool | None, Field(title="Ai Generated")] = False
    """
    A manifest declares that the content was created by an algorithm: a c2pa.created action (or its metadata) with source type trainedAlgorithmicMedia, algorithmicMedia or compositeSynthetic.
    """
    claim_generator: Annotated[str | None, Field(title="Claim Generator")] = None
    """
    The software that made the active manifest, as 'name/version'.
    """
    digital_source_types: Annotated[list[str] | None, Field(title="Digital Source Types")] = None
    """
    IPTC digital source types (URIs) declared by the actions and metadata assertions of every manifest in the store.
    """
    error: Annotated[str | None, Field(title="Error")] = None
    """
    Why the store could not be read or checked (malformed, unsupported container, too large to validate, time limit); null when it was.
    """
    present: Annotated[bool, Field(title="Present")]
    """
    The file carries a C2PA manifest store.
    """
    signed_at: Annotated[str | None, Field(title="Signed At")] = None
    """
    When the signature was made, from a time-stamp authority's countersignature (RFC 3339); null without one.
    """
    signer: Annotated[str | None, Field(title="Signer")] = None
    """
    Who signed: the signing certificate's common name, else its organization.
    """
    trusted: Annotated[bool | None, Field(title="Trusted")] = None
    """
    The signing certificate chains to one of the gateway's trust anchors (GATEWAY_C2PA_TRUST_ANCHORS); null when none are configured or nothing was validated.
    """
    valid: Annotated[bool | None, Field(title="Valid")] = None
    """
    The active manifest's signature and its hashes of the assertions and of the media validate; null when none was validated (absent, only at a URL, too large, time limit).
    """
    validation_errors: Annotated[list[str] | None, Field(title="Validation Errors")] = None
    """
    C2PA validation status codes of the failures found (e.g. assertion.bmffHash.mismatch, signingCredential.untrusted); general.error when the store could not be read at all.
    """


class RateInterval(BaseModel):
    """
    A rate measured on a fit set, with its 95% percentile bootstrap interval.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    high: Annotated[float | None, Field(title="High")] = None
    level: Annotated[float | None, Field(title="Level")] = 0.95
    low: Annotated[float | None, Field(title="Low")] = None
    point: Annotated[float | None, Field(title="Point")] = None
    resamples: Annotated[int | None, Field(title="Resamples")] = 0


class ScoreInterval(BaseModel):
    """
    Where the video score would fall on other draws of the same frames.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    high: Annotated[float, Field(title="High")]
    """
    Upper end of the interval, in [0, 1].
    """
    level: Annotated[float, Field(title="Level")]
    """
    The share of bootstrap resamples the interval holds (0.9: the 5th to the 95th percentile).
    """
    low: Annotated[float, Field(title="Low")]
    """
    Lower end of the interval, in [0, 1].
    """


class ShadowStatus(BaseModel):
    """
    The shadow version (GATEWAY_SHADOW_MODEL) and how often it agreed with the answers,
    counted by this gateway process since it started.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    agreement_rate: Annotated[float | None, Field(title="Agreement Rate")]
    """
    agreements / compared; null before the first comparison.
    """
    agreements: Annotated[int, Field(title="Agreements")]
    compared: Annotated[int, Field(title="Compared")]
    """
    agreements plus disagreements.
    """
    disagreements: Annotated[int, Field(title="Disagreements")]
    dropped: Annotated[int, Field(title="Dropped")]
    """
    Sampled detections not shadowed: the queue was full, or at shutdown.
    """
    failed: Annotated[int, Field(title="Failed")]
    """
    Shadow runs that failed (the answers did not).
    """
    label: Annotated[str | None, Field(title="Label")]
    """
    The label the shadow is asked by, if any.
    """
    model: Annotated[str, Field(title="Model")]
    """
    The shadow as configured: a version number or a label.
    """
    sample_rate: Annotated[float, Field(title="Sample Rate")]
    """
    Share of detections also scored by the shadow.
    """
    score_delta: Annotated[float, Field(title="Score Delta")]
    """
    Video scores further apart than this disagree, even with one verdict.
    """
    version: Annotated[int | None, Field(title="Version")]
    """
    The version the shadow is (for a label: the one it last answered with).
    """


class TimelineDifference(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    delta: Annotated[float | None, Field(title="Delta")]
    """
    replay - original; null when either is missing.
    """
    original: Annotated[float | None, Field(title="Original")]
    replay: Annotated[float | None, Field(title="Replay")]
    t_s: Annotated[float, Field(title="T S")]
    """
    Time of the frame in seconds.
    """


class TimelinePoint(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    faces: Annotated[list[FaceResult] | None, Field(title="Faces", validate_default=True)] = []
    score: Annotated[float, Field(title="Score")]
    """
    Fake probability of the frame.
    """
    t_s: Annotated[float, Field(title="T S")]


class Timings(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    aggregate: Annotated[float, Field(title="Aggregate")]
    decode: Annotated[float, Field(title="Decode")]
    explain: Annotated[float | None, Field(title="Explain")] = None
    """
    Explaining the tracks' most suspicious faces (explain=true).
    """
    inference: Annotated[float, Field(title="Inference")]
    motion: Annotated[float | None, Field(title="Motion")] = None
    """
    The talking-head member scoring a face track.
    """
    probe: Annotated[float, Field(title="Probe")]
    provenance: Annotated[float | None, Field(title="Provenance")] = None
    """
    Reading the upload's content credentials; it runs alongside probe, decode and inference, so it overlaps them.
    """
    robustness: Annotated[float | None, Field(title="Robustness")] = None
    """
    Re-encoding the video and scoring its copies (robustness=true), after the detection.
    """
    sequence: Annotated[float | None, Field(title="Sequence")] = None
    """
    The sequence head scoring the face tracks (aggregation 'sequence').
    """
    total: Annotated[float, Field(title="Total")]
    upload: Annotated[float, Field(title="Upload")]


class TrackDifference(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    delta: Annotated[float | None, Field(title="Delta")]
    """
    replay - original; null when either is missing.
    """
    id: Annotated[int, Field(title="Id")]
    """
    The track id (the same faces, linked the same way).
    """
    original: Annotated[float | None, Field(title="Original")]
    replay: Annotated[float | None, Field(title="Replay")]


class TrackResult(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    explanations: Annotated[list[FaceExplanation] | None, Field(title="Explanations")] = None
    """
    With explain=true: the track's most suspicious faces, most suspicious first; null when not asked for or the version cannot explain.
    """
    frames: Annotated[list[int], Field(title="Frames")]
    """
    Indices into the timeline where this track appears.
    """
    id: Annotated[int, Field(title="Id")]
    members: Annotated[dict[str, float] | None, Field(title="Members")] = None
    """
    Ensembles: each member's score of this track by member name, aggregated from that member's face scores with the same aggregation as score; null for versions that are not ensembles.
    """
    score: Annotated[float, Field(title="Score")]
    """
    Fake probability of this face track.
    """


class TransformScore(BaseModel):
    """
    One transformed copy of the upload, scored by the version that answered.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    delta: Annotated[float, Field(title="Delta")]
    """
    The copy's score minus the upload's score.
    """
    description: Annotated[str, Field(title="Description")]
    """
    What was done to the copy (H.264 CRF, size, mirror).
    """
    name: Annotated[str, Field(title="Name")]
    """
    crf23, crf30, crf38, half or mirror.
    """
    score: Annotated[float, Field(title="Score")]
    """
    The copy's video fake probability.
    """
    verdict: Annotated[Literal["real", "fake", "inconclusive"], Field(title="Verdict")]


class ValidationError(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    ctx: Annotated[dict[str, Any] | None, Field(title="Context")] = None
    input: Annotated[Any | None, Field(title="Input")] = None
    loc: Annotated[list[str | int], Field(title="Location")]
    msg: Annotated[str, Field(title="Message")]
    type: Annotated[str, Field(title="Error Type")]


class VideoSummary(BaseModel):
    """
    The upload as probed: a video, or a still image (one frame at t = 0, no duration).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    duration_s: Annotated[float, Field(title="Duration S")]
    fps: Annotated[float, Field(title="Fps")]
    frames_sampled: Annotated[int, Field(title="Frames Sampled")]
    height: Annotated[int, Field(title="Height")]
    """
    Height as displayed, after rotation.
    """
    kind: Annotated[Literal["video", "image"] | None, Field(title="Kind")] = "video"
    """
    video, or image for a still image (JPEG, PNG, WebP): then duration_s and fps are 0 and the timeline holds one frame at t_s 0.
    """
    rotation: Annotated[int, Field(title="Rotation")]
    """
    Clockwise degrees applied to display the upload upright (an image's from its EXIF orientation, which may also mirror it).
    """
    width: Annotated[int, Field(title="Width")]
    """
    Width as displayed, after rotation.
    """


class WebhookSecret(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    secret: Annotated[str, Field(title="Secret")]
    """
    Standard Webhooks secret (whsec_...). Shown only in this answer; POST again to rotate it.
    """


class DeliveryList(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    deliveries: Annotated[list[DeliveryResponse], Field(title="Deliveries")]


class HTTPValidationError(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    detail: Annotated[list[ValidationError] | None, Field(title="Detail")] = None


class OperatingPointInfo(BaseModel):
    """
    One named threshold of a version, with what it was measured on.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    data: Annotated[str | None, Field(title="Data")] = "none"
    """
    What data the scores came from; none: no data.
    """
    detection_rate: RateInterval | None = None
    """
    Share of fake videos flagged fake on the fit set; null: not measured.
    """
    false_positive_rate: RateInterval | None = None
    """
    Share of real videos flagged fake on the fit set; null: not measured.
    """
    fitted_on: Annotated[str | None, Field(title="Fitted On")] = "none"
    """
    Which scores: validation, calibration_data, out_of_fold; none: no data.
    """
    interval_over: Annotated[str | None, Field(title="Interval Over")] = None
    """
    What the bootstrap resampled: videos or sources.
    """
    name: Annotated[str, Field(title="Name")]
    """
    balanced, low_false_positive, high_recall, ...
    """
    target: Annotated[dict[str, float] | None, Field(title="Target")] = None
    """
    The target the threshold was chosen to meet; null for balanced.
    """
    threshold: Annotated[float, Field(title="Threshold")]
    """
    On the calibrated scale of score.
    """
    videos: Annotated[dict[str, int] | None, Field(title="Videos")] = None
    """
    Real and fake videos the rates were measured on; null: none.
    """


class ReplayDifference(BaseModel):
    """
    How the replay's answer differs from the job's.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    score_delta: Annotated[float, Field(title="Score Delta")]
    """
    replay score - original score.
    """
    timeline: Annotated[list[TimelineDifference], Field(title="Timeline")]
    tracks: Annotated[list[TrackDifference], Field(title="Tracks")]
    verdict_changed: Annotated[bool, Field(title="Verdict Changed")]


class Robustness(BaseModel):
    """
    How far the answer moves under re-encodes an upload commonly goes through.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    complete: Annotated[bool, Field(title="Complete")]
    """
    False when GATEWAY_ROBUSTNESS_TIMEOUT_S passed before every copy was scored.
    """
    max_abs_delta: Annotated[float | None, Field(title="Max Abs Delta")]
    """
    The largest move of the score over the copies; null if none was scored.
    """
    transforms: Annotated[list[TransformScore], Field(title="Transforms")]
    """
    The copies scored, in the order above; fewer when complete is false.
    """
    verdict_flips: Annotated[int, Field(title="Verdict Flips")]
    """
    How many copies got another verdict than the upload; a verdict that flips under an ordinary re-encode deserves less trust.
    """


class DetectionResponse(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    aggregation: Annotated[
        Literal["mean", "median", "topk_mean", "confident", "max", "sequence"],
        Field(title="Aggregation"),
    ]
    """
    The aggregation that decided.
    """
    audio: AudioSummary | None = None
    """
    The upload's audio track and, for versions with an audio-visual member, its score (also in members); absent audio never changes the visual verdict.
    """
    frames_analyzed: Annotated[int, Field(title="Frames Analyzed")]
    members: Annotated[dict[str, float] | None, Field(title="Members")] = None
    """
    Ensembles: each member's video score by member name (GET /v1/models lists them), from that member's face scores through the same tracks and aggregation as score; score itself combines the members' calibrated logits with the weights fitted for the version, so it is not an average of these. Null for versions that are not ensembles, unless a track member scored (talking_head, audio_visual).
    """
    model: ModelInfo
    motion: MotionSummary | None = None
    """
    The talking-head member's score (also in members); null without one.
    """
    operating_point: AppliedOperatingPoint | None = None
    """
    The named threshold that decided (operating_point=NAME, default balanced); its threshold equals threshold.
    """
    provenance: Provenance | None = None
    """
    The upload's content credentials (C2PA), reported beside the verdict; they never change the score or the verdict.
    """
    reasons: Annotated[
        list[
            Literal[
                "no_face",
                "face_too_small",
                "too_few_frames",
                "heavy_compression",
                "near_threshold",
                "frames_disagree",
            ]
        ]
        | None,
        Field(title="Reasons"),
    ] = None
    """
    Why the verdict deserves care, as codes (empty when none); no_face and near_threshold make it inconclusive, the others accompany any verdict.
    """
    receipt: Annotated[str | None, Field(title="Receipt")] = None
    """
    A compact JWS (EdDSA, Ed25519) signed by the gateway over this answer: the media's sha256, the model name, version and digest, the sampling and aggregation settings, the sampled frame times, the video and track scores, the verdict, threshold and operating point, the gateway's version and the time (iat); its header's kid names the key, published at /.well-known/jwks.json. It proves that this service, with this key, gave this answer about these bytes with this model, not that the answer is right. Null only in results stored before receipts existed.
    """
    request_id: Annotated[str, Field(title="Request Id")]
    robustness: Robustness | None = None
    """
    With robustness=true: the stability probe's copies and how far their scores moved (not signed by the receipt); null otherwise.
    """
    score: Annotated[float, Field(title="Score")]
    """
    Video fake probability in [0, 1].
    """
    score_interval: ScoreInterval | None = None
    """
    A bootstrap interval of score: the deciding face track's frame scores (every frame's without one) resampled with a fixed seed and aggregated by the same rule; null when a sequence head scored the tracks.
    """
    threshold: Annotated[float, Field(title="Threshold")]
    """
    Decision threshold of the answering model version.
    """
    timeline: Annotated[list[TimelinePoint], Field(title="Timeline")]
    timings_ms: Timings
    tracks: Annotated[list[TrackResult], Field(title="Tracks")]
    verdict: Annotated[Literal["real", "fake", "inconclusive"], Field(title="Verdict")]
    """
    fake when score >= threshold, real below it; inconclusive when no_face or near_threshold is among reasons.
    """
    video: VideoSummary
    warnings: Annotated[list[str] | None, Field(title="Warnings")] = None
    """
    What to know before trusting the verdict (e.g. a demo model); empty if none.
    """


class JobResponse(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    attempts: Annotated[int, Field(title="Attempts")]
    """
    Times a worker claimed the job (retries after a lost worker).
    """
    callback_url: Annotated[str | None, Field(title="Callback Url")] = None
    created_at: Annotated[str, Field(title="Created At")]
    error: ErrorDetail | None = None
    """
    The sync API's error codes, or worker_lost / canceled / media_undecryptable; for a media URL also media_unreachable, media_too_large, media_not_allowed, unsupported_media.
    """
    expires_at: Annotated[str, Field(title="Expires At")]
    """
    When the job's record and result are removed (GATEWAY_JOB_RETENTION after it ends; before that, after submission).
    """
    finished_at: Annotated[str | None, Field(title="Finished At")] = None
    id: Annotated[str, Field(title="Id")]
    input: JobInput
    links: JobLinks
    metadata: Annotated[dict[str, str] | None, Field(title="Metadata")] = {}
    model_version: Annotated[int | None, Field(title="Model Version")] = None
    parameters: Annotated[dict[str, int | float | str] | None, Field(title="Parameters")] = {}
    progress: JobProgress
    result: DetectionResponse | None = None
    """
    Exactly the body /v1/detect returns (status succeeded).
    """
    started_at: Annotated[str | None, Field(title="Started At")] = None
    status: Annotated[
        Literal["queued", "running", "succeeded", "failed", "canceled", "expired"],
        Field(title="Status"),
    ]
    updated_at: Annotated[str, Field(title="Updated At")]


class ModelVersionInfo(BaseModel):
    """
    One version of the model as Serving reports it, and what it says about itself.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    audio: AudioMemberInfo | None = None
    """
    Its audio-visual member; null without one (AVAILABLE versions).
    """
    error: Annotated[str | None, Field(title="Error")] = ""
    frame_min_side: Annotated[int | None, Field(title="Frame Min Side")] = None
    """
    Shorter frame side the version needs; 0: any (AVAILABLE versions).
    """
    kind: Annotated[Literal["detector", "demo", "unknown"] | None, Field(title="Kind")] = None
    """
    detector, demo or unknown, from its model_info (AVAILABLE versions).
    """
    labels: Annotated[list[str] | None, Field(title="Labels")] = []
    members: Annotated[list[str] | None, Field(title="Members")] = None
    """
    Ensembles: the member names, in the order their scores are reported; null for versions that are not ensembles (AVAILABLE versions).
    """
    motion: MotionMemberInfo | None = None
    """
    Its talking-head member, or null.
    """
    operating_points: Annotated[
        list[OperatingPointInfo] | None, Field(title="Operating Points")
    ] = None
    """
    Named thresholds a detection may ask for (operating_point=NAME); balanced is the shipped threshold. A version that lists none has balanced alone (AVAILABLE versions).
    """
    sequence_length: Annotated[int | None, Field(title="Sequence Length")] = None
    """
    Faces per window of its sequence head; 0: none (AVAILABLE versions).
    """
    state: Annotated[str, Field(title="State")]
    threshold: Annotated[float | None, Field(title="Threshold")] = None
    """
    Decision threshold the version ships (AVAILABLE versions).
    """
    version: Annotated[int, Field(title="Version")]
    visual_threshold: Annotated[float | None, Field(title="Visual Threshold")] = None
    """
    Versions whose track members (audio, motion) join an upload's score: the threshold of the visual score alone, which a live session's balanced verdict meets (no track member joins a live verdict); null: threshold serves both (AVAILABLE versions).
    """


class ModelsResponse(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    name: Annotated[str, Field(title="Name")]
    shadow: ShadowStatus | None = None
    """
    The shadow canary and its agreement so far; null without one.
    """
    versions: Annotated[list[ModelVersionInfo], Field(title="Versions")]


class ReplayResponse(BaseModel):
    """
    A job's stored media scored again by another version, beside the job's own answer.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    difference: ReplayDifference
    job_id: Annotated[str, Field(title="Job Id")]
    original: DetectionResponse
    """
    The job's result, as it was answered.
    """
    replay: DetectionResponse
    """
    The same media scored by the version asked.
    """


class JobList(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    jobs: Annotated[list[JobResponse], Field(title="Jobs")]
    next_cursor: Annotated[str | None, Field(title="Next Cursor")] = None
    """
    Pass as ?cursor= for the next page.
    """
