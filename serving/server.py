"""Assembles the model server from flags: manager, core, gRPC (and REST) endpoints."""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent import futures

import grpc
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from . import grpc_api
from .core import ServerCore, single_model_config
from .errors import ServingError
from .flags import Flags
from .manager import Manager
from .metrics import Metrics
from .servable import Servable

log = logging.getLogger(__name__)

#: server.cc: builder.SetMaxMessageSize(tensorflow::kint32max)
MAX_MESSAGE_SIZE = 2**31 - 1


def read_text_proto(path: str, message: object) -> object:
    """Parse a text-format proto file (server.cc ParseProtoTextFile)."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT, f"Invalid protobuf file: '{path}': {exc}"
        ) from None
    return message


def channel_arguments(text: str) -> list[tuple[str, int | str]]:
    """Parse ``--grpc_channel_arguments`` (k=v,k=v; ints when they parse)."""
    out: list[tuple[str, int | str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        try:
            out.append((key, int(value)))
        except ValueError:
            out.append((key, value))
    return out


class ModelServer:
    """The whole server; ``start`` blocks until the configured models are loaded."""

    def __init__(self, flags: Flags) -> None:
        self.flags = flags
        self.metrics = Metrics()
        self.manager = Manager(
            self._load,
            max_num_load_retries=flags.max_num_load_retries,
            load_retry_interval_s=flags.load_retry_interval_micros / 1e6,
        )
        self.core = ServerCore(
            self.manager,
            file_system_poll_wait_seconds=flags.file_system_poll_wait_seconds,
            allow_version_labels_for_unavailable_models=(
                flags.allow_version_labels_for_unavailable_models
            ),
        )
        self._grpc: grpc.Server | None = None
        self._stop = threading.Event()
        self._session_config = self._make_session_config()

    def _make_session_config(self) -> tf.compat.v1.ConfigProto:
        config = tf.compat.v1.ConfigProto()
        f = self.flags
        intra = f.tensorflow_intra_op_parallelism or f.tensorflow_session_parallelism
        inter = f.tensorflow_inter_op_parallelism or f.tensorflow_session_parallelism
        config.intra_op_parallelism_threads = intra
        config.inter_op_parallelism_threads = inter
        return config

    # --- Loading ----------------------------------------------------------------------------

    def _load(self, name: str, version: int, path: str) -> Servable:
        servable = Servable.load(name, version, path, self._session_config)
        try:
            if self.flags.enable_model_warmup:
                start = time.monotonic()
                ok = False
                records = 0
                try:
                    records = servable.warmup(max(1, self.flags.num_request_iterations_for_warmup))
                    ok = True
                finally:
                    self.metrics.observe_warmup(path, records, time.monotonic() - start, ok)
        except BaseException:
            servable.close()
            raise
        return servable

    def initial_config(self) -> model_server_config_pb2.ModelServerConfig:
        """The config from ``--model_config_file`` or ``--model_name/--model_base_path``."""
        if self.flags.model_config_file:
            config = model_server_config_pb2.ModelServerConfig()
            read_text_proto(self.flags.model_config_file, config)
            return config
        log.info(
            "Building single TensorFlow model file config:  model_name: %s model_base_path: %s",
            self.flags.model_name,
            self.flags.model_base_path,
        )
        return single_model_config(self.flags.model_name, self.flags.model_base_path)

    # --- Lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Load the configured models, then open the gRPC port."""
        self.core.reload_config(self.initial_config())
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_SIZE),
            ("grpc.max_send_message_length", MAX_MESSAGE_SIZE),
            ("grpc.so_reuseport", 0),
            *channel_arguments(self.flags.grpc_channel_arguments),
        ]
        server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=max(1, self.flags.grpc_max_threads), thread_name_prefix="grpc"
            ),
            options=options,
        )
        grpc_api.add_services(server, self.core, self.metrics)
        address = f"0.0.0.0:{self.flags.port}"
        server.add_insecure_port(address)
        server.start()
        self._grpc = server
        log.info("Running gRPC ModelServer at %s ...", address)

    def wait(self) -> None:
        """Block until ``stop`` is called."""
        self._stop.wait()

    def request_stop(self) -> None:
        """Ask ``wait`` to return (safe from a signal handler)."""
        self._stop.set()

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting requests, finish in-flight ones, unload every version."""
        self._stop.set()
        if self._grpc is not None:
            self._grpc.stop(grace_s).wait()
            self._grpc = None
        self.core.stop()
        self.manager.stop()


def pid_note() -> str:
    """A short description of this process for logs."""
    return f"pid {os.getpid()}"
