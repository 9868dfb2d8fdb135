"""TF Serving config file formats: models, batching, monitoring and SSL.

``tensorflow-serving-api`` ships ``model_server_config_pb2`` but not the
messages behind ``--batching_parameters_file``, ``--monitoring_config_file`` and
``--ssl_config_file``. Those three are declared here from their field lists, with
TF Serving's package, message names and field numbers, so text files written
for ``tensorflow_model_server`` parse here exactly as they parse there:

* ``tensorflow.serving.SSLConfig`` — config/ssl_config.proto: server_key = 1,
  server_cert = 2, custom_ca = 3 (strings holding PEM text), client_verify = 4.
* ``tensorflow.serving.PrometheusConfig`` / ``MonitoringConfig`` —
  config/monitoring_config.proto: enable = 1, path = 2; prometheus_config = 1.
* ``tensorflow.serving.BatchingParameters`` —
  servables/tensorflow/session_bundle_config.proto: max_batch_size = 1,
  batch_timeout_micros = 2, max_enqueued_batches = 3, num_batch_threads = 4
  (google.protobuf.Int64Value), thread_pool_name = 5 (StringValue),
  allowed_batch_sizes = 6 (repeated int64), pad_variable_length_inputs = 7.

They live in a private descriptor pool so they cannot clash with a package that
registers the real files.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

_F = descriptor_pb2.FieldDescriptorProto
_POOL = descriptor_pool.DescriptorPool()
_POOL.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)


def _field(
    name: str, number: int, kind: int, label: int = _F.LABEL_OPTIONAL, type_name: str = ""
) -> _F:
    field = _F(name=name, number=number, type=kind, label=label)
    if type_name:
        field.type_name = type_name
    return field


def _file(name: str, messages: dict[str, list[_F]], deps: tuple[str, ...] = ()) -> None:
    proto = descriptor_pb2.FileDescriptorProto(
        name=name, package="tensorflow.serving", syntax="proto3", dependency=list(deps)
    )
    for message_name, fields in messages.items():
        proto.message_type.add(name=message_name, field=fields)
    _POOL.Add(proto)


_file(
    "tensorflow_serving/config/ssl_config.proto",
    {
        "SSLConfig": [
            _field("server_key", 1, _F.TYPE_STRING),
            _field("server_cert", 2, _F.TYPE_STRING),
            _field("custom_ca", 3, _F.TYPE_STRING),
            _field("client_verify", 4, _F.TYPE_BOOL),
        ]
    },
)
_file(
    "tensorflow_serving/config/monitoring_config.proto",
    {
        "PrometheusConfig": [
            _field("enable", 1, _F.TYPE_BOOL),
            _field("path", 2, _F.TYPE_STRING),
        ],
        "MonitoringConfig": [
            _field(
                "prometheus_config",
                1,
                _F.TYPE_MESSAGE,
                type_name=".tensorflow.serving.PrometheusConfig",
            ),
        ],
    },
)
_INT64 = ".google.protobuf.Int64Value"
_file(
    "tensorflow_serving/servables/tensorflow/session_bundle_config.proto",
    {
        "BatchingParameters": [
            _field("max_batch_size", 1, _F.TYPE_MESSAGE, type_name=_INT64),
            _field("batch_timeout_micros", 2, _F.TYPE_MESSAGE, type_name=_INT64),
            _field("max_enqueued_batches", 3, _F.TYPE_MESSAGE, type_name=_INT64),
            _field("num_batch_threads", 4, _F.TYPE_MESSAGE, type_name=_INT64),
            _field(
                "thread_pool_name",
                5,
                _F.TYPE_MESSAGE,
                type_name=".google.protobuf.StringValue",
            ),
            _field("allowed_batch_sizes", 6, _F.TYPE_INT64, label=_F.LABEL_REPEATED),
            _field("pad_variable_length_inputs", 7, _F.TYPE_BOOL),
        ]
    },
    deps=("google/protobuf/wrappers.proto",),
)

SSLConfig = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("tensorflow.serving.SSLConfig")
)
PrometheusConfig = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("tensorflow.serving.PrometheusConfig")
)
MonitoringConfig = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
)
BatchingParameters = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
)
ModelServerConfig = model_server_config_pb2.ModelServerConfig

#: util/prometheus_exporter.cc: PrometheusExporter::kPrometheusPath
DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


class ConfigError(ValueError):
    """A config file does not parse or breaks a rule TF Serving enforces."""


def parse_text(text: str, message_class: type, source: str = "<text>"):
    """Parse a text-format proto; unknown fields and bad syntax raise ConfigError."""
    message = message_class()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        # server.cc ParseProtoTextFile: "Invalid protobuf file: '<file>'"
        raise ConfigError(f"Invalid protobuf file: '{source}': {exc}") from None
    return message


def read_text(path: str | os.PathLike[str], message_class: type):
    """Read and parse a text-format proto file."""
    with open(path, encoding="utf-8") as handle:
        return parse_text(handle.read(), message_class, os.fspath(path))


@dataclass(frozen=True)
class BatchingOptions:
    """BatchingParameters with TF's defaults filled in and TF Serving's checks applied."""

    max_batch_size: int
    batch_timeout_micros: int
    max_enqueued_batches: int
    num_batch_threads: int
    thread_pool_name: str
    allowed_batch_sizes: tuple[int, ...]
    pad_variable_length_inputs: bool

    @classmethod
    def from_proto(cls, params: BatchingParameters) -> BatchingOptions:  # type: ignore[valid-type]
        """Defaults from TF's BasicBatchScheduler::Options (max_batch_size 1000,
        batch_timeout_micros 0, max_enqueued_batches 10, num_batch_threads = cores);
        checks from servables/tensorflow/bundle_factory_util.cc."""

        def get(field: str, default: int) -> int:
            return getattr(params, field).value if params.HasField(field) else default

        options = cls(
            max_batch_size=get("max_batch_size", 1000),
            batch_timeout_micros=get("batch_timeout_micros", 0),
            max_enqueued_batches=get("max_enqueued_batches", 10),
            num_batch_threads=get("num_batch_threads", os.cpu_count() or 1),
            thread_pool_name=(
                params.thread_pool_name.value
                if params.HasField("thread_pool_name")
                else "batch_threads"
            ),
            allowed_batch_sizes=tuple(params.allowed_batch_sizes),
            pad_variable_length_inputs=params.pad_variable_length_inputs,
        )
        options.validate()
        return options

    def validate(self) -> None:
        """Raise ConfigError where TF Serving would refuse the parameters."""
        if self.max_batch_size <= 0:
            raise ConfigError("max_batch_size must be positive")
        if self.num_batch_threads <= 0:
            raise ConfigError("num_batch_threads must be positive")
        if self.max_enqueued_batches <= 0:
            raise ConfigError("max_enqueued_batches must be positive")
        if self.batch_timeout_micros < 0:
            raise ConfigError("batch_timeout_micros must be non-negative")
        sizes = self.allowed_batch_sizes
        if sizes:
            if any(b <= a for a, b in itertools.pairwise(sizes)):
                raise ConfigError("allowed_batch_sizes entries must be monotonically increasing")
            if sizes[-1] != self.max_batch_size:
                raise ConfigError(
                    "Last entry in allowed_batch_sizes must match max_batch_size; last entry "
                    f"was {sizes[-1]}; expected {self.max_batch_size}"
                )


def prometheus_path(config: MonitoringConfig | None) -> str | None:  # type: ignore[valid-type]
    """The metrics path when Prometheus export is enabled, else None."""
    if config is None or not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or DEFAULT_PROMETHEUS_PATH
