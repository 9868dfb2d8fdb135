"""Assembles the model server from flags: manager, core, data plane, gRPC and REST ports."""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures

import grpc
import tensorflow as tf

from . import config as cfg
from . import grpc_api
from .batching import BatchScheduler
from .core import ServerCore, single_model_config
from .data_plane import DataPlane
from .errors import ServingError
from .flags import Flags
from .manager import Manager
from .metrics import Metrics
from .rest_api import RestServer
from .servable import Servable
from .tls import server_credentials
from .version_state import AVAILABLE, VersionState
from .warmup import run_warmup

log = logging.getLogger(__name__)

#: server.cc: builder.SetMaxMessageSize(tensorflow::kint32max)
MAX_MESSAGE_SIZE = 2**31 - 1


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


def _config_error(exc: Exception) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, str(exc))


class ModelServer:
    """The whole server; ``start`` blocks until the configured models are loaded."""

    def __init__(self, flags: Flags) -> None:
        self.flags = flags
        self.metrics = Metrics()
        try:
            # Read every config file up front, so a typo stops the server before it loads.
            self._monitoring = (
                cfg.read_text(flags.monitoring_config_file, cfg.MonitoringConfig)
                if flags.monitoring_config_file
                else None
            )
            self._ssl = (
                cfg.read_text(flags.ssl_config_file, cfg.SSLConfig)
                if flags.ssl_config_file
                else None
            )
            self._credentials = server_credentials(self._ssl) if self._ssl is not None else None
            self.batcher = self._make_batcher()
        except (cfg.ConfigError, OSError) as exc:
            raise _config_error(exc) from None
        self.manager = Manager(
            self._load,
            max_num_load_retries=flags.max_num_load_retries,
            load_retry_interval_s=flags.load_retry_interval_micros / 1e6,
        )
        self.manager.add_listener(self._on_state)
        self.core = ServerCore(
            self.manager,
            file_system_poll_wait_seconds=flags.file_system_poll_wait_seconds,
            allow_version_labels_for_unavailable_models=(
                flags.allow_version_labels_for_unavailable_models
            ),
        )
        self.data_plane = DataPlane(self.core)
        self._grpc: grpc.Server | None = None
        self._rest: RestServer | None = None
        self._stop = threading.Event()
        self._config_poller: threading.Thread | None = None
        self._session_config = self._make_session_config()

    def _make_batcher(self) -> BatchScheduler | None:
        if not self.flags.enable_batching:
            return None
        params = cfg.BatchingParameters()
        if self.flags.batching_parameters_file:
            params = cfg.read_text(self.flags.batching_parameters_file, cfg.BatchingParameters)
        else:
            # server.cc: batching on without a file names the thread pool only.
            params.thread_pool_name.value = "model_server_batch_threads"
        options = cfg.BatchingOptions.from_proto(params)
        log.info("Server-side batching enabled: %s", options)
        return BatchScheduler(options)

    def _make_session_config(self) -> tf.compat.v1.ConfigProto:
        config = tf.compat.v1.ConfigProto()
        f = self.flags
        config.intra_op_parallelism_threads = (
            f.tensorflow_intra_op_parallelism or f.tensorflow_session_parallelism
        )
        config.inter_op_parallelism_threads = (
            f.tensorflow_inter_op_parallelism or f.tensorflow_session_parallelism
        )
        return config

    def _on_state(self, model: str, state: VersionState) -> None:
        count = sum(1 for s in self.manager.version_states(model).values() if s.state == AVAILABLE)
        self.metrics.set_available_versions(model, count)

    # --- Loading ----------------------------------------------------------------------------

    def _load(self, name: str, version: int, path: str) -> Servable:
        servable = Servable.load(
            name,
            version,
            path,
            self._session_config,
            batcher=self.batcher,
            on_batch=lambda size: self.metrics.observe_batch(name, size),
        )
        try:
            if self.flags.enable_model_warmup:
                start = time.monotonic()
                ok = False
                records = 0
                try:
                    records = run_warmup(
                        servable, max(1, self.flags.num_request_iterations_for_warmup)
                    )
                    ok = True
                finally:
                    self.metrics.observe_warmup(path, records, time.monotonic() - start, ok)
        except BaseException:
            servable.close()
            raise
        return servable

    def read_model_config(self) -> cfg.ModelServerConfig:
        """The config from ``--model_config_file`` or ``--model_name/--model_base_path``."""
        if self.flags.model_config_file:
            try:
                return cfg.read_text(self.flags.model_config_file, cfg.ModelServerConfig)
            except (cfg.ConfigError, OSError) as exc:
                raise _config_error(exc) from None
        log.info(
            "Building single TensorFlow model file config:  model_name: %s model_base_path: %s",
            self.flags.model_name,
            self.flags.model_base_path,
        )
        return single_model_config(self.flags.model_name, self.flags.model_base_path)

    # --- Lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Load the configured models, then open the gRPC (and REST) ports."""
        self.core.reload_config(self.read_model_config())
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
        grpc_api.add_services(server, self.data_plane, self.metrics)
        address = f"0.0.0.0:{self.flags.port}"
        if self._credentials is not None:
            server.add_secure_port(address, self._credentials)
        else:
            server.add_insecure_port(address)
        server.start()
        self._grpc = server
        log.info("Running gRPC ModelServer at %s ...", address)
        self._start_rest()
        if self.flags.model_config_file and self.flags.model_config_file_poll_wait_seconds > 0:
            self._config_poller = threading.Thread(
                target=self._poll_model_config, name="config-poll", daemon=True
            )
            self._config_poller.start()

    def _start_rest(self) -> None:
        port = self.flags.rest_api_port
        if port == 0:
            return
        if port == self.flags.port:
            log.error(
                "server_options.http_port cannot be same as grpc_port. Please use a different "
                "port for HTTP/REST API. Skipped exporting HTTP/REST API."
            )
            return
        self._rest = RestServer(
            self.data_plane,
            port,
            self.metrics,
            cfg.prometheus_path(self._monitoring),
            timeout_s=self.flags.rest_api_timeout_in_ms / 1000,
        )
        self._rest.start()

    def _poll_model_config(self) -> None:
        """Re-read ``--model_config_file`` periodically and apply it when it changed."""
        wait = self.flags.model_config_file_poll_wait_seconds
        while not self._stop.wait(wait):
            try:
                new_config = self.read_model_config()
                if new_config == self.core.config:
                    continue
                log.info("Model config file changed; reloading")
                self.core.reload_config(new_config)
            except ServingError as exc:
                log.error("ReloadConfig failed: %s: %s", exc.code.name, exc.message)
            except Exception:
                log.exception("polling the model config file failed")

    def wait(self) -> None:
        """Block until ``stop`` is called.

        Waits in short slices: a process-directed signal may be delivered to a
        worker thread, and CPython runs the handler only once the main thread
        wakes, which an untimed wait never does.
        """
        while not self._stop.wait(0.2):
            pass

    def request_stop(self) -> None:
        """Ask ``wait`` to return (safe from a signal handler)."""
        self._stop.set()

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting requests, finish in-flight ones, unload every version."""
        self._stop.set()
        if self._rest is not None:
            self._rest.stop()
            self._rest = None
        if self._grpc is not None:
            self._grpc.stop(grace_s).wait()
            self._grpc = None
        self.core.stop()
        self.manager.stop()
        if self.batcher is not None:
            self.batcher.stop()
