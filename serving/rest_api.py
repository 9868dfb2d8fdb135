"""The REST transport: model status, metadata, ``:predict`` and Prometheus metrics.

A thin adapter over ``DataPlane``: a URL and JSON body become the request protos
the gRPC port receives, the data plane answers, and the answer is rendered as
TF Serving's JSON. ``_handle`` is the one place a ``ServingError`` becomes an
HTTP status and a request is counted in the metrics.

Paths and JSON shapes follow TF Serving's REST API (g3doc/api_rest.md,
model_servers/http_rest_api_handler.cc):

* ``GET /v1/models/<name>[/versions/<v>|/labels/<l>]`` -> GetModelStatus as JSON
* ``GET /v1/models/<name>[/versions/<v>|/labels/<l>]/metadata`` -> GetModelMetadata
* ``POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict`` with
  ``{"instances": [...]}`` (row format, answered as ``predictions``) or
  ``{"inputs": ...}`` (columnar, answered as ``outputs``)
* ``GET <monitoring path>`` -> Prometheus text, when enabled in MonitoringConfig

Errors are ``{"error": "<message>"}`` with the HTTP status TF Serving maps the
gRPC code to (http_server.cc). Like TF Serving, this port has no TLS.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import numpy as np
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
)

from . import tensors
from .data_plane import SIGNATURE_DEF_FIELD, DataPlane
from .errors import ServingError, invalid_argument
from .metrics import Metrics
from .servable import DEFAULT_SIGNATURE

log = logging.getLogger(__name__)

_MODEL = r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>-?\d+)|/labels/(?P<label>[^/:]+))?"
_GET = re.compile(_MODEL + r"(?P<metadata>/metadata)?$")
_POST = re.compile(_MODEL + r":(?P<method>classify|regress|predict)$")

#: http_server.cc ToHTTPStatusCode
_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


def _spec(match: re.Match[str]) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=match["name"])
    if match["version"] is not None:
        spec.version.value = int(match["version"])
    elif match["label"] is not None:
        spec.version_label = match["label"]
    return spec


def _to_json(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )


def model_status_json(plane: DataPlane, spec: model_pb2.ModelSpec) -> dict[str, Any]:
    """GetModelStatus rendered as TF Serving's REST JSON."""
    request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
    return _to_json(plane.model_status(request))


def model_metadata_json(plane: DataPlane, spec: model_pb2.ModelSpec) -> dict[str, Any]:
    """GetModelMetadata with the signature map unpacked into plain JSON."""
    request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec)
    request.metadata_field.append(SIGNATURE_DEF_FIELD)
    response = plane.model_metadata(request)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
    return {
        "model_spec": _to_json(response.model_spec),
        "metadata": {SIGNATURE_DEF_FIELD: _to_json(signature_map)},
    }


def _array(value: Any, dtype: int, name: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=tensors.numpy_dtype(dtype))
    except (TypeError, ValueError, OverflowError, tensors.TensorParseError) as exc:
        raise invalid_argument(f"Failed to process input '{name}': {exc}") from None


def predict_json(plane: DataPlane, spec: model_pb2.ModelSpec, body: Any) -> dict[str, Any]:
    """``:predict`` in row (instances) or columnar (inputs) format."""
    if not isinstance(body, dict):
        raise invalid_argument("JSON Parse error: request body must be a JSON object")
    signature = body.get("signature_name", "")
    if not isinstance(signature, str):
        raise invalid_argument("'signature_name' key must be a string value.")
    has_instances, has_inputs = "instances" in body, "inputs" in body
    if has_instances == has_inputs:
        raise invalid_argument("Missing 'inputs' or 'instances' key")
    # JSON values carry no type: they are read as the signature's input types.
    dtypes = plane.input_dtypes(spec, signature or DEFAULT_SIGNATURE)
    arrays: dict[str, np.ndarray] = {}
    if has_instances:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise invalid_argument("'instances' must be a non-empty list")
        if len(dtypes) == 1 and not all(isinstance(r, dict) for r in rows):
            (name,) = dtypes
            rows = [{name: r} for r in rows]
        for name, dtype in dtypes.items():
            if not all(isinstance(r, dict) and name in r for r in rows):
                raise invalid_argument(f"Missing input '{name}' in an instance")
            arrays[name] = _array([r[name] for r in rows], dtype, name)
    else:
        columns = body["inputs"]
        if not isinstance(columns, dict):
            (name,) = dtypes if len(dtypes) == 1 else (None,)
            if name is None:
                raise invalid_argument("'inputs' must be an object for a multi-input signature")
            columns = {name: columns}
        for name, value in columns.items():
            arrays[name] = _array(value, dtypes.get(name, 1), name)
    request = predict_pb2.PredictRequest()
    request.model_spec.CopyFrom(spec)
    request.model_spec.signature_name = signature
    for name, array in arrays.items():
        request.inputs[name].CopyFrom(tensors.from_numpy(array))
    response = plane.predict(request)
    outputs = {k: tensors.to_numpy(v) for k, v in response.outputs.items()}
    if has_inputs:
        if len(outputs) == 1:
            return {"outputs": next(iter(outputs.values())).tolist()}
        return {"outputs": {k: v.tolist() for k, v in outputs.items()}}
    count = len(next(iter(arrays.values())))
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != count:
            batch = array.shape[0] if array.ndim else 0
            raise invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {batch} expecting: {count}"
            )
    if len(outputs) == 1:
        return {"predictions": next(iter(outputs.values())).tolist()}
    return {"predictions": [{k: v[i].tolist() for k, v in outputs.items()} for i in range(count)]}


class RestServer:
    """A threaded HTTP server for the REST API and the metrics page."""

    def __init__(
        self,
        plane: DataPlane,
        port: int,
        metrics: Metrics,
        metrics_path: str | None,
        timeout_s: float,
    ) -> None:
        handler = _make_handler(plane, metrics, metrics_path, timeout_s)
        self._httpd = ThreadingHTTPServer(("0.0.0.0", port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="rest", daemon=True)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()
        log.info("Exporting HTTP/REST API at:localhost:%d ...", self.port)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def _make_handler(
    plane: DataPlane, metrics: Metrics, metrics_path: str | None, timeout_s: float
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "serving"
        timeout = timeout_s

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("REST %s - %s", self.address_string(), format % args)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _handle(self, api: str, model: str, fn: Callable[[], Any]) -> None:
            start = time.monotonic()
            code = grpc.StatusCode.OK
            try:
                self._json(200, fn())
            except ServingError as exc:
                code = exc.code
                self._json(_HTTP_STATUS.get(exc.code, 500), {"error": exc.message})
            finally:
                metrics.observe_request(api, model, code, time.monotonic() - start, "REST")

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if metrics_path is not None and path == metrics_path:
                self._send(200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
                return
            match = _GET.match(path)
            if match is None:
                self._malformed()
                return
            spec = _spec(match)
            if match["metadata"]:
                self._handle(
                    "GetModelMetadata", spec.name, lambda: model_metadata_json(plane, spec)
                )
            else:
                self._handle("GetModelStatus", spec.name, lambda: model_status_json(plane, spec))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            match = _POST.match(self.path.split("?", 1)[0])
            if match is None:
                self._malformed()
                return
            if match["method"] != "predict":
                self._json(
                    HTTPStatus.NOT_IMPLEMENTED,
                    {"error": f"{match['method']} is not supported by this server"},
                )
                return
            try:
                body = json.loads(raw or b"null")
            except ValueError as exc:
                self._json(400, {"error": f"JSON Parse error: {exc}"})
                return
            spec = _spec(match)
            self._handle("Predict", spec.name, lambda: predict_json(plane, spec, body))

        def _malformed(self) -> None:
            self._json(404, {"error": f"Malformed request: {self.command} {self.path}"})

    return Handler
