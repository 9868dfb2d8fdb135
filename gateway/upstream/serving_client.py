"""The gateway's only way to Serving: TF Serving's gRPC API over one shared async channel.

Works unchanged against ``tensorflow/serving`` and the local ``python -m serving``.
Readiness comes from here (``GetModelStatus``), not from the web layer. What it returns
is plain data (:mod:`gateway.upstream.serving_types`); gRPC failures become the domain errors of
:class:`~gateway.errors.UpstreamError` (:mod:`gateway.upstream.serving_rpc_errors`). The channels,
their options and TLS are made by :mod:`gateway.upstream.serving_channels`.

It holds every call the gateway makes to Serving and the one retry and deadline loop they
share.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random

import grpc
import numpy as np
from google.protobuf import wrappers_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

import contract
from contract.motion import MOTION_SIGNATURE

from ..errors import (
    InferenceFailed,
    ModelNotFound,
    ServingTimeout,
    UpstreamError,
)
from ..settings import Settings
from .description import read_description
from .serving_channels import ClientOptions, TlsConfig, channel_options, open_channel
from .serving_rpc_errors import is_missing_signature, map_rpc_error
from .serving_types import ModelRef, Prediction, ServedVersion, VersionDescription
from .tensors import from_tensor_proto, to_tensor_proto

log = logging.getLogger(__name__)

_BACKOFF_BASE_S = 0.1
_BACKOFF_MAX_S = 2.0

_STATE_NAMES = {
    get_model_status_pb2.ModelVersionStatus.UNKNOWN: "UNKNOWN",
    get_model_status_pb2.ModelVersionStatus.START: "START",
    get_model_status_pb2.ModelVersionStatus.LOADING: "LOADING",
    get_model_status_pb2.ModelVersionStatus.AVAILABLE: "AVAILABLE",
    get_model_status_pb2.ModelVersionStatus.UNLOADING: "UNLOADING",
    get_model_status_pb2.ModelVersionStatus.END: "END",
}


def _model_spec(model: ModelRef, signature: str) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=model.name, signature_name=signature)
    if model.version is not None:
        spec.version.CopyFrom(wrappers_pb2.Int64Value(value=model.version))
    elif model.label is not None:
        spec.version_label = model.label
    return spec


class ServingClient:
    """Async client for one or more Serving targets, round-robin, with retries."""

    def __init__(self, targets: list[str], options: ClientOptions) -> None:
        if not targets:
            raise ValueError("at least one Serving target is required")
        self.options = options
        #: The gRPC arguments every channel to Serving is made with.
        self.channel_options = channel_options(options)
        self.targets = targets
        self._channels = [open_channel(target, options) for target in targets]
        self._next = itertools.cycle(range(len(self._channels)))
        #: Versions ``(name, version)`` that answered that they have no ``detect_faces``.
        self._without_detect: set[tuple[str, int]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, targets: list[str] | None = None) -> ServingClient:
        """The client ``settings`` describe (``SERVING_*``), to ``targets`` if given."""
        tls = None
        if settings.serving_tls_ca or settings.serving_tls_cert:
            tls = TlsConfig(
                root_ca=settings.serving_tls_ca,
                client_cert=settings.serving_tls_cert,
                client_key=settings.serving_tls_key,
            )
        return cls(
            targets or settings.serving_targets,
            ClientOptions(
                timeout_s=settings.serving_timeout_s,
                retries=settings.serving_retries,
                dns_min_interval_s=settings.serving_dns_min_interval_s,
                tls=tls,
            ),
        )

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._channels), return_exceptions=True)

    def _channel(self) -> grpc.aio.Channel:
        return self._channels[next(self._next)]

    async def _call(self, make_call, model: ModelRef, timeout_s: float | None):  # type: ignore[no-untyped-def]
        """Run ``make_call(channel, timeout)`` with retries on UNAVAILABLE across targets."""
        timeout = timeout_s if timeout_s is not None else self.options.timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        attempt = 0
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ServingTimeout("Serving did not answer before the deadline")
            try:
                return await make_call(self._channel(), remaining)
            except grpc.aio.AioRpcError as exc:
                error = map_rpc_error(exc, model)
                retryable = exc.code() == grpc.StatusCode.UNAVAILABLE
                if not retryable or attempt >= self.options.retries:
                    raise error from exc
                attempt += 1
                pause = min(_BACKOFF_MAX_S, _BACKOFF_BASE_S * 2**attempt) * random.uniform(0.5, 1)
                log.warning(
                    "Serving unavailable, retrying",
                    extra={"attempt": attempt, "pause_s": round(pause, 3)},
                )
                await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))

    async def predict(
        self,
        model: ModelRef,
        inputs: dict[str, np.ndarray],
        *,
        signature: str = contract.SERVING_SIGNATURE,
        timeout_s: float | None = None,
    ) -> Prediction:
        """Call ``Predict`` and return outputs with the version that answered."""
        request = predict_pb2.PredictRequest(model_spec=_model_spec(model, signature))
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(to_tensor_proto(value))

        async def call(channel: grpc.aio.Channel, remaining: float) -> predict_pb2.PredictResponse:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            return await stub.Predict(request, timeout=remaining)

        response = await self._call(call, model, timeout_s)
        outputs = {key: from_tensor_proto(t) for key, t in response.outputs.items()}
        version = (
            response.model_spec.version.value if response.model_spec.HasField("version") else -1
        )
        return Prediction(
            name=response.model_spec.name or model.name, version=version, outputs=outputs
        )

    async def _predict_if_present(
        self,
        model: ModelRef,
        inputs: dict[str, np.ndarray],
        signature: str,
        timeout_s: float | None,
    ) -> Prediction | None:
        """``signature``'s answer; None when the version has no such signature (it says so at
        once, so asking is how the gateway learns what a version offers)."""
        try:
            return await self.predict(model, inputs, signature=signature, timeout_s=timeout_s)
        except UpstreamError as exc:
            if is_missing_signature(exc.__cause__):
                return None
            raise

    async def model_info(
        self, model: ModelRef, *, timeout_s: float | None = None
    ) -> VersionDescription | None:
        """Ask the version ``model`` resolves to for its ``model_info``; None if it has none.

        One 1x1 frame goes in; the answer names the version, so a request can pin it before
        it decodes anything and send frames at the size that version needs.
        """
        answer = await self._predict_if_present(
            model,
            {contract.FRAMES_INPUT: np.zeros((1, 1, 1, 3), np.uint8)},
            contract.MODEL_INFO_SIGNATURE,
            timeout_s,
        )
        if answer is None:
            return None

        return read_description(answer)

    async def explain(
        self, model: ModelRef, frames: np.ndarray, *, timeout_s: float | None = None
    ) -> Prediction | None:
        """Ask ``model``'s ``explain`` signature about ``frames``; None if it has none.

        Whether a version explains is learnt by asking: a version without the signature
        answers so at once, and one call is all an explained request makes anyway.
        """
        return await self._predict_if_present(
            model, {contract.FRAMES_INPUT: frames}, contract.EXPLAIN_SIGNATURE, timeout_s
        )

    def lacks_detect_faces(self, model: ModelRef) -> bool:
        """Whether ``model`` (a pinned version) is known to have no ``detect_faces``."""
        return model.version is not None and (model.name, model.version) in self._without_detect

    async def detect_faces(
        self, model: ModelRef, frames: np.ndarray, *, timeout_s: float | None = None
    ) -> Prediction | None:
        """Ask ``model``'s ``detect_faces`` for the faces of ``frames``; None if it has none.

        Whether a version has the signature is learnt by asking and remembered per version
        (a version's signatures never change), so later videos skip the question.
        """
        if self.lacks_detect_faces(model):
            return None
        answer = await self._predict_if_present(
            model, {contract.FRAMES_INPUT: frames}, contract.DETECT_SIGNATURE, timeout_s
        )
        if answer is None and model.version is not None:
            self._without_detect.add((model.name, model.version))
        return answer

    async def classify_boxes(
        self,
        model: ModelRef,
        frames: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        count: np.ndarray,
        *,
        timeout_s: float | None = None,
    ) -> Prediction:
        """Score ``frames`` at the given faces with ``model``'s ``classify_boxes``: the
        outputs of ``serving_default`` for faces found elsewhere (a keyframe schedule)."""
        return await self.predict(
            model,
            {
                contract.FRAMES_INPUT: frames,
                contract.FACE_BOXES: boxes.astype(np.float32),
                contract.FACE_SCORES: scores.astype(np.float32),
                contract.FACE_COUNT: count.astype(np.int32),
            },
            signature=contract.CLASSIFY_BOXES_SIGNATURE,
            timeout_s=timeout_s,
        )

    async def classify_audio(
        self,
        model: ModelRef,
        audio: np.ndarray,
        frames: np.ndarray,
        boxes: np.ndarray,
        *,
        timeout_s: float | None = None,
    ) -> Prediction:
        """Score waveforms (float32 [B, S] at the contract's rate) with frames of one face
        track each (uint8 [B, T, H, W, 3]) and the track's boxes in them (float32 [B, T, 4])
        by ``model``'s audio-visual member."""
        return await self.predict(
            model,
            {
                contract.AUDIO_INPUT: audio.astype(np.float32),
                contract.FRAMES_INPUT: frames.astype(np.uint8),
                contract.FACE_BOXES: boxes.astype(np.float32),
            },
            signature=contract.AUDIO_SIGNATURE,
            timeout_s=timeout_s,
        )

    async def classify_motion(
        self,
        model: ModelRef,
        frames: np.ndarray,
        boxes: np.ndarray,
        *,
        timeout_s: float | None = None,
    ) -> Prediction:
        """Score frames of one face track each (uint8 [B, T, H, W, 3]) and the track's boxes
        in them (float32 [B, T, 4]) by ``model``'s talking-head member
        (:mod:`contract.motion`)."""
        return await self.predict(
            model,
            {
                contract.FRAMES_INPUT: frames.astype(np.uint8),
                contract.FACE_BOXES: boxes.astype(np.float32),
            },
            signature=MOTION_SIGNATURE,
            timeout_s=timeout_s,
        )

    async def model_status(
        self, name: str, *, timeout_s: float | None = None
    ) -> list[ServedVersion]:
        """Every version Serving knows of ``name``, with its state."""
        model = ModelRef(name)
        request = get_model_status_pb2.GetModelStatusRequest(
            model_spec=model_pb2.ModelSpec(name=name)
        )

        async def call(channel: grpc.aio.Channel, remaining: float):  # type: ignore[no-untyped-def]
            stub = model_service_pb2_grpc.ModelServiceStub(channel)
            return await stub.GetModelStatus(request, timeout=remaining)

        response = await self._call(call, model, timeout_s)
        return [
            ServedVersion(
                version=s.version,
                state=_STATE_NAMES.get(s.state, str(s.state)),
                error=s.status.error_message,
            )
            for s in response.model_version_status
        ]

    async def version_labels(
        self, name: str, labels: list[str], *, timeout_s: float | None = None
    ) -> dict[str, int]:
        """Which version each label points at now; labels Serving does not know are left out.

        TF Serving has no call that lists labels, so each one is resolved with
        ``GetModelMetadata`` and the version named in the answer.
        """
        found: dict[str, int] = {}
        for label in labels:
            model = ModelRef(name, label=label)
            request = get_model_metadata_pb2.GetModelMetadataRequest(
                model_spec=_model_spec(model, ""), metadata_field=["signature_def"]
            )

            async def call(channel: grpc.aio.Channel, remaining: float, request=request):  # type: ignore[no-untyped-def]
                stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                return await stub.GetModelMetadata(request, timeout=remaining)

            try:
                response = await self._call(call, model, timeout_s)
            except (ModelNotFound, InferenceFailed):
                continue
            found[label] = response.model_spec.version.value
        return found

    async def ready(self, name: str, *, timeout_s: float = 2.0) -> tuple[bool, str]:
        """Whether some version of ``name`` is AVAILABLE, and why not otherwise."""
        try:
            statuses = await self.model_status(name, timeout_s=timeout_s)
        except UpstreamError as exc:
            return False, exc.message
        if any(s.state == "AVAILABLE" for s in statuses):
            return True, "ok"
        states = ", ".join(f"{s.version}:{s.state}" for s in statuses) or "no versions"
        return False, f"model {name!r} has no AVAILABLE version ({states})"


def let_finish(call: asyncio.Task[object]) -> None:
    """Leave a Serving call whose answer is no longer needed to end by itself.

    Cancelling a ``grpc.aio`` call while a batch of it is in flight leaks that batch's
    native operations (grpc/grpc#43360: about 1.5 KB per abandoned request here, every
    upload whose probe fails); the call is bounded by its deadline anyway. Its outcome is
    retrieved, so that asyncio logs no "exception was never retrieved".
    """
    call.add_done_callback(lambda done: done.cancelled() or done.exception())
