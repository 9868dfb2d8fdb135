"""One loaded SavedModel version: a TF1 session, its signatures, and Predict on it.

A version is restored the way ``tensorflow_model_server`` restores it: the
MetaGraph tagged ``serve`` is imported into a fresh graph and its restore and
init ops run in a ``tf.compat.v1.Session`` (saved_model_bundle_factory.cc), so a
SavedModel that TF Serving would refuse is refused here too. Warmup replay is
in ``warmup``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import predict_pb2

from . import tensors
from .batching import BatchScheduler
from .errors import ServingError, code_from_value, invalid_argument

DEFAULT_SIGNATURE = "serving_default"
SERVE_TAG = "serve"
_PREDICT_METHODS = (
    "tensorflow/serving/predict",
    "tensorflow/serving/classify",
    "tensorflow/serving/regress",
)


@dataclass(frozen=True)
class PreparedRun:
    """A validated Predict call: what to feed and what to fetch."""

    signature_name: str
    #: input alias -> array, in signature order
    inputs: dict[str, np.ndarray]
    #: output aliases to return, in request (or signature) order
    output_aliases: tuple[str, ...]


def _shape_compatible(shape: tuple[int, ...], info: meta_graph_pb2.TensorInfo) -> bool:
    if info.tensor_shape.unknown_rank:
        return True
    dims = [d.size for d in info.tensor_shape.dim]
    if len(dims) != len(shape):
        return False
    return all(want < 0 or want == got for want, got in zip(dims, shape, strict=True))


def _shape_text(info: meta_graph_pb2.TensorInfo) -> str:
    if info.tensor_shape.unknown_rank:
        return "<unknown>"
    return "[" + ",".join("?" if d.size < 0 else str(d.size) for d in info.tensor_shape.dim) + "]"


class Servable:
    """A SavedModel version loaded in its own graph and session.

    ``predict`` may be called from many threads at once: ``Session.run`` is
    thread-safe and releases the GIL while the graph runs.
    """

    def __init__(
        self,
        name: str,
        version: int,
        path: str,
        session: tf.compat.v1.Session,
        meta_graph: meta_graph_pb2.MetaGraphDef,
        batcher: BatchScheduler | None,
        on_batch: Callable[[int], None] | None,
    ) -> None:
        self.name = name
        self.version = version
        self.path = path
        self._session = session
        self.signatures: Mapping[str, meta_graph_pb2.SignatureDef] = dict(meta_graph.signature_def)
        self._closed = False
        self._close_lock = threading.Lock()
        self._batcher = batcher
        self._on_batch = on_batch

    @classmethod
    def load(
        cls,
        name: str,
        version: int,
        path: str,
        session_config: tf.compat.v1.ConfigProto | None = None,
        batcher: BatchScheduler | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> Servable:
        """Restore ``path`` with the TF1 SavedModel loader, as TF Serving does.

        With a ``batcher``, Predict calls (warmup included) go through it, as
        TF Serving wraps the session in a BatchingSession.
        """
        graph = tf.Graph()
        session = tf.compat.v1.Session(graph=graph, config=session_config)
        try:
            with graph.as_default():
                meta_graph = tf.compat.v1.saved_model.loader.load(session, [SERVE_TAG], path)
        except BaseException:
            session.close()
            raise
        return cls(name, version, path, session, meta_graph, batcher, on_batch)

    def close(self) -> None:
        """Release the session (idempotent)."""
        with self._close_lock:
            if not self._closed:
                self._closed = True
                if self._batcher is not None:
                    self._batcher.forget(self)
                self._session.close()

    # --- Predict -------------------------------------------------------------------------

    def signature(self, signature_name: str) -> meta_graph_pb2.SignatureDef:
        """Return a signature; FAILED_PRECONDITION when absent (predict_util.cc)."""
        name = signature_name or DEFAULT_SIGNATURE
        try:
            return self.signatures[name]
        except KeyError:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f'Serving signature key "{name}" not found.',
            ) from None

    def prepare(self, request: predict_pb2.PredictRequest) -> PreparedRun:
        """Validate a PredictRequest against its signature, in TF Serving's order.

        Mirrors ``PreProcessPrediction`` (servables/tensorflow/predict_util.cc) and
        ``saved_model::GetInputValues`` (tensorflow/cc/saved_model/util.cc): input
        count, then each signature input from the request or the signature's
        defaults, then unknown request names, then the output filter. Dtypes and
        static dims are checked here, where TensorFlow's session would refuse them.
        """
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        signature = self.signature(signature_name)
        if signature.method_name and signature.method_name not in _PREDICT_METHODS:
            raise ServingError(
                grpc.StatusCode.INTERNAL,
                "Expected prediction signature method_name to be one of {"
                + ", ".join(_PREDICT_METHODS)
                + f"}}. Was: {signature.method_name}",
            )
        request_names = set(request.inputs)
        signature_names = set(signature.inputs)
        if len(request_names) > len(signature_names) or (
            len(request_names) < len(signature_names) and not signature.defaults
        ):
            raise invalid_argument(
                f"input size does not match signature: {len(request_names)}!="
                f"{len(signature_names)} len({{{','.join(sorted(request_names))}}}) != "
                f"len({{{','.join(sorted(signature_names))}}}). "
                f"Sent extra: {{{','.join(sorted(request_names - signature_names))}}}. "
                f"Missing but required: {{{','.join(sorted(signature_names - request_names))}}}."
            )
        inputs: dict[str, np.ndarray] = {}
        for alias in sorted(signature.inputs):
            info = signature.inputs[alias]
            if alias in request.inputs:
                proto = request.inputs[alias]
            elif alias in signature.defaults:
                proto = signature.defaults[alias]
            else:
                raise invalid_argument(
                    f"Signature input alias: {alias}(feed name: {info.name}) not found in "
                    "request and no default value provided. Inputs expected to be in the "
                    f"request {{{','.join(sorted(request_names))}}}, or default input alias "
                    f"set: {','.join(sorted(signature.defaults))}"
                )
            try:
                array = tensors.to_numpy(proto)
            except tensors.TensorParseError:
                raise invalid_argument(f"tensor parsing error: {alias}") from None
            if proto.dtype != info.dtype:
                # The message TensorFlow's executor gives for a mistyped feed.
                index = sorted(signature.inputs).index(alias)
                raise invalid_argument(
                    f"Expects arg[{index}] to be {tensors.dtype_name(info.dtype)} but "
                    f"{tensors.dtype_name(proto.dtype)} is provided"
                )
            if not _shape_compatible(array.shape, info):
                raise invalid_argument(
                    f"input tensor alias {alias}: shape {list(array.shape)} is not compatible "
                    f"with the signature shape {_shape_text(info)}"
                )
            inputs[alias] = array
        used = request_names & signature_names
        if request_names and used != request_names:
            raise invalid_argument(
                f"Inputs contains invalid name. Used request inputs: {','.join(sorted(used))}, "
                f"request input: {','.join(sorted(request_names))}"
            )
        aliases: list[str] = []
        for alias in request.output_filter:
            if alias not in signature.outputs:
                raise invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected "
                    f"to be in the set {{{','.join(sorted(signature.outputs))}}}."
                )
            if alias in aliases:
                raise invalid_argument(f"duplicate output tensor alias: {alias}")
            aliases.append(alias)
        if not aliases:
            aliases = sorted(signature.outputs)
        return PreparedRun(signature_name, inputs, tuple(aliases))

    def run(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_aliases: Sequence[str],
    ) -> dict[str, np.ndarray]:
        """Run the signature's graph; TensorFlow errors keep their status code."""
        signature = self.signature(signature_name)
        feeds = {signature.inputs[a].name: v for a, v in inputs.items()}
        fetches = [signature.outputs[a].name for a in output_aliases]
        try:
            values = self._session.run(fetches, feed_dict=feeds)
        except tf.errors.OpError as exc:
            raise ServingError(code_from_value(exc.error_code), exc.message) from None
        except (ValueError, TypeError, RuntimeError) as exc:
            # Python-side feed checks, or a session closed by an unload race.
            raise invalid_argument(str(exc)) from None
        return {a: np.asarray(v) for a, v in zip(output_aliases, values, strict=True)}

    def predict(self, request: predict_pb2.PredictRequest) -> dict[str, np.ndarray]:
        """Validate and run a PredictRequest; returns output alias -> array."""
        prepared = self.prepare(request)
        if self._batcher is not None:
            return self._batcher.submit(
                self,
                self.run,
                prepared.signature_name,
                prepared.inputs,
                prepared.output_aliases,
                self._on_batch,
            )
        return self.run(prepared.signature_name, prepared.inputs, prepared.output_aliases)
