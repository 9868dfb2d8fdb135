"""The ensemble's graph functions: one face detection, each member's crops, one score.

``serving_default`` detects faces (the in-graph MTCNN), cuts each member's crops from the
same boxes with that member's own size and margin, runs every member and combines their
logits per face (:mod:`model_export.ensemble_combination`). An ensemble with track members
also has their signatures, the audio-visual member's ``classify_audio`` (:mod:`contract.audio`)
and the talking-head member's ``classify_motion`` (:mod:`contract.motion`), and ``model_info``
says how each one's score joins the video score (:mod:`model_export.member_fit`).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

import contract
from contract.combination import MemberCombination
from contract.motion import MOTION_SIGNATURE
from model_export.ensemble_combination import EPSILON, Combination
from model_export.ensemble_members import Member
from model_export.export import add_model_info, frames_spec
from model_export.face_export import FaceConfig, boxes_specs
from model_export.faces import crop_faces, detect_faces, load_nets
from model_export.track_member_versions import TrackMember, audio_specs, track_specs

#: Not served: the members' scores of whole frames, which fitting needs for faceless frames.
WHOLE_FRAME = "member_whole_frame_probability"


def _logit(p: tf.Tensor) -> tf.Tensor:
    p = tf.clip_by_value(p, EPSILON, 1.0 - EPSILON)
    return tf.math.log(p) - tf.math.log1p(-p)


class EnsembleGraph:
    """The ensemble's graph functions over ``members``; eager calls run the same code."""

    def __init__(
        self,
        members: Sequence[Member],
        combination: Combination,
        threshold: float,
        faces: FaceConfig,
        audio: TrackMember | None = None,
        audio_combination: MemberCombination | None = None,
        motion: TrackMember | None = None,
        motion_combination: MemberCombination | None = None,
        visual_threshold: float | None = None,
    ) -> None:
        if len(combination.weights) != len(members):
            raise ValueError("one weight per member is needed")
        self.members = list(members)
        self.faces = faces
        self.threshold = float(threshold)
        #: The visual score's own threshold where track members' joins moved ``threshold``.
        self.visual_threshold = visual_threshold
        self.weights = tf.constant(combination.weights, tf.float32)
        self.bias = float(combination.bias)
        self.outputs = tf.function(self._outputs, input_signature=[frames_spec()])
        self.serve = tf.function(self._serve, input_signature=[frames_spec()])
        spec = tf.TensorSpec([None, None, None, 3], tf.uint8, name=contract.FACES_INPUT)
        self.classify_faces = tf.function(self._classify_faces, input_signature=[spec])
        self.detect = tf.function(self._detect, input_signature=[frames_spec()])
        self.classify_boxes = tf.function(self._classify_boxes, input_signature=boxes_specs())
        self.audio = audio
        self.audio_combination = audio_combination or MemberCombination()
        self.classify_audio = tf.function(self._classify_audio, input_signature=audio_specs())
        self.motion = motion
        self.motion_combination = motion_combination or MemberCombination()
        self.classify_motion = tf.function(self._classify_motion, input_signature=track_specs())

    def _classify_motion(self, frames: tf.Tensor, boxes: tf.Tensor) -> dict[str, tf.Tensor]:
        if self.motion is None:
            raise ValueError("the ensemble has no talking-head member")
        return {contract.FAKE_PROBABILITY: self.motion.classify(frames, boxes)}

    def _classify_audio(
        self, audio: tf.Tensor, frames: tf.Tensor, boxes: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        if self.audio is None:
            raise ValueError("the ensemble has no audio-visual member")
        return {contract.FAKE_PROBABILITY: self.audio.classify(audio, frames, boxes)}

    def _combine(self, member_probability: tf.Tensor) -> tf.Tensor:
        """P(fake) from the members' probabilities on the last axis."""
        return tf.sigmoid(self.bias + tf.reduce_sum(_logit(member_probability) * self.weights, -1))

    def _serve(self, frames: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = self._outputs(frames)
        del outputs[WHOLE_FRAME]
        return outputs

    def _find(self, frames: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        faces = self.faces
        return detect_faces(
            frames,
            max_faces=faces.max_faces,
            min_face_size=faces.min_face_size,
            thresholds=faces.thresholds,
        )

    def _detect(self, frames: tf.Tensor) -> dict[str, tf.Tensor]:
        boxes, scores, count = self._find(frames)
        return {
            contract.FACE_BOXES: boxes,
            contract.FACE_SCORES: scores,
            contract.FACE_COUNT: tf.cast(count, tf.int32),
        }

    def _classify_boxes(
        self, frames: tf.Tensor, boxes: tf.Tensor, scores: tf.Tensor, count: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        outputs = self._score(frames, boxes, scores, count)
        del outputs[WHOLE_FRAME]
        return outputs

    def _outputs(self, frames: tf.Tensor) -> dict[str, tf.Tensor]:
        """``serving_default``'s outputs plus the members' whole-frame scores."""
        return self._score(frames, *self._find(frames))

    def _score(
        self, frames: tf.Tensor, boxes: tf.Tensor, scores: tf.Tensor, count: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """The outputs for faces already found (by the detector or a client's schedule)."""
        slots = tf.shape(boxes)[1]
        count = tf.minimum(tf.cast(count, tf.int32), slots)
        boxes = tf.cast(boxes, tf.float32)
        n = tf.shape(frames)[0]
        valid = tf.range(slots)[None, :] < count[:, None]
        index = tf.where(valid)
        per_face, whole = [], []
        for member in self.members:
            crops = crop_faces(
                frames,
                boxes,
                count,
                size=member.input_size[0],
                margin=member.margin,
                dtype=tf.uint8,
            )
            scored = member.classify(tf.gather_nd(crops, index))
            per_face.append(tf.scatter_nd(index, scored, [n, slots]))
            whole.append(member.classify(frames))
        member_face = tf.stack(per_face, axis=-1)  # [N, F, M]
        member_whole = tf.stack(whole, axis=-1)  # [N, M]
        has_face = count > 0
        member_frame = tf.where(
            has_face[:, None],
            tf.reduce_max(tf.where(valid[..., None], member_face, -1.0), axis=1),
            member_whole,
        )
        face_probability = tf.where(valid, self._combine(member_face), 0.0)
        best_face = tf.reduce_max(tf.where(valid, face_probability, -1.0), axis=1)
        return {
            contract.FAKE_PROBABILITY: tf.where(has_face, best_face, self._combine(member_whole)),
            # Per row, not scalar: TF Serving's batching splits every output on dim 0.
            contract.THRESHOLD: tf.fill([n], self.threshold),
            contract.FACE_BOXES: tf.where(valid[..., None], boxes, 0.0),
            contract.FACE_SCORES: tf.where(valid, tf.cast(scores, tf.float32), 0.0),
            contract.FACE_FAKE_PROBABILITY: face_probability,
            contract.FACE_COUNT: count,
            contract.MEMBER_FAKE_PROBABILITY: member_face,
            contract.MEMBER_FRAME_FAKE_PROBABILITY: member_frame,
            WHOLE_FRAME: member_whole,
        }

    def _classify_faces(self, faces_in: tf.Tensor) -> dict[str, tf.Tensor]:
        members = tf.stack([m.classify(faces_in) for m in self.members], axis=-1)
        return {
            contract.FAKE_PROBABILITY: self._combine(members),
            contract.MEMBER_FAKE_PROBABILITY: members,
        }

    def archive(self) -> keras.export.ExportArchive:
        """The export archive: ``serving_default``, ``classify_faces``, ``detect_faces``,
        ``classify_boxes`` (the faces of a client's keyframe schedule), ``model_info`` and
        the track members' ``classify_audio`` and ``classify_motion``."""
        archive = keras.export.ExportArchive()
        for member in self.members:
            archive.track(member.resource)
        for net in load_nets():
            archive.track(net)
        archive.add_endpoint(contract.SERVING_SIGNATURE, self.serve)
        archive.add_endpoint(contract.FACES_SIGNATURE, self.classify_faces)
        archive.add_endpoint(contract.DETECT_SIGNATURE, self.detect)
        archive.add_endpoint(contract.CLASSIFY_BOXES_SIGNATURE, self.classify_boxes)
        if self.audio is not None:
            archive.track(self.audio.resource)
            archive.add_endpoint(contract.AUDIO_SIGNATURE, self.classify_audio)
        if self.motion is not None:
            archive.track(self.motion.resource)
            archive.add_endpoint(MOTION_SIGNATURE, self.classify_motion)
        add_model_info(
            archive,
            threshold=self.threshold,
            frame_min_side=0,
            member_names=[m.name for m in self.members],
            audio_combination=self.audio_combination if self.audio is not None else None,
            motion_combination=self.motion_combination if self.motion is not None else None,
            visual_threshold=self.visual_threshold,
        )
        return archive
