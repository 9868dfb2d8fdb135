"""The talking-head member's signature: a face track's motion over time, scored as one.

One-photo animation leaves traces over time that single frames hide: a background that does
not move with the head, head motion confined to what a driving signal gives, a face whose
texture stays too stable from frame to frame. A version's talking-head member scores one
face track from its frames and boxes, so like the audio-visual member (:mod:`contract.audio`)
it is a signature of its own, never part of ``serving_default`` (Serving's batching may merge
the frames of two videos).

Signature ``classify_motion`` (versions with a talking-head member; ``model_info``'s
:data:`MOTION_COMBINATION_OUTPUT` says a version has it):

==========================  =======  ===================  ================================
name                        dtype    shape                meaning
==========================  =======  ===================  ================================
``frames`` (input)          uint8    [B, T, H, W, 3]      ``T`` =
                                                          :data:`contract.audio.AUDIO_FACE_COUNT`
                                                          sampled frames of one face track
``face_boxes`` (input)      float32  [B, T, 4]            the track's box in each,
                                                          ``[y1, x1, y2, x2]`` in [0, 1]
``fake_probability``        float32  [B]                  the member's fake probability
==========================  =======  ===================  ================================

The frames and boxes are the ones :func:`contract.audio.audio_track_frames` picks, the same
as the audio-visual member's, so training and the gateway ask the member about the same
faces and a version with both members is sent one selection. The graph computes the motion
features itself, from the full frames (the background is the point), so no program computes
them twice.

How the score joins the verdict: ``model_info``'s :data:`MOTION_COMBINATION_OUTPUT` (float32
[N, 4]) is a :class:`contract.combination.MemberCombination`, joined to the visual video
score before the audio-visual member's (:mod:`contract.combination`). A clip with no face
track keeps its visual score.

Needs nothing beyond the standard library.
"""

from __future__ import annotations

#: Signature of versions with a talking-head member.
MOTION_SIGNATURE = "classify_motion"
#: The talking-head member's key in an answer's ``members``.
MOTION_MEMBER = "talking_head"
#: Output of ``model_info``: the talking-head member's
#: :class:`~contract.combination.MemberCombination` as float32 [N, 4]
#: (visual weight, member weight, bias, floor); absent: the version has no such member.
MOTION_COMBINATION_OUTPUT = "motion_combination"
