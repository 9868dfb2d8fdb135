"""Command-line flags with ``tensorflow_model_server``'s names and defaults.

Defaults are those of model_servers/main.cc and server.h. Flags may be given as
``--flag=value`` or ``--flag value``; booleans also as a bare ``--flag``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "t", "yes", "y"):
        return True
    if value in ("0", "false", "f", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


@dataclass(frozen=True)
class Flags:
    """Parsed server flags."""

    port: int
    rest_api_port: int
    rest_api_timeout_in_ms: int
    model_name: str
    model_base_path: str
    model_config_file: str
    model_config_file_poll_wait_seconds: int
    file_system_poll_wait_seconds: int
    allow_version_labels_for_unavailable_models: bool
    enable_batching: bool
    batching_parameters_file: str
    monitoring_config_file: str
    ssl_config_file: str
    enable_model_warmup: bool
    num_request_iterations_for_warmup: int
    max_num_load_retries: int
    num_load_threads: int
    num_unload_threads: int
    load_retry_interval_micros: int
    grpc_max_threads: int
    grpc_channel_arguments: str
    tensorflow_session_parallelism: int
    tensorflow_intra_op_parallelism: int
    tensorflow_inter_op_parallelism: int


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; help texts paraphrase TF Serving's."""
    p = argparse.ArgumentParser(
        prog="python -m serving",
        description="Model server speaking TensorFlow Serving's gRPC and REST APIs.",
    )

    def flag(name: str, kind: type, default: object, help_text: str) -> None:
        if kind is bool:
            p.add_argument(
                f"--{name}", type=_bool, nargs="?", const=True, default=default, help=help_text
            )
        else:
            p.add_argument(f"--{name}", type=kind, default=default, help=help_text)

    cpus = os.cpu_count() or 1
    flag("port", int, 8500, "TCP port to listen on for gRPC API.")
    flag("rest_api_port", int, 0, "Port for the HTTP/REST API; 0 disables it.")
    flag("rest_api_timeout_in_ms", int, 30000, "Timeout for HTTP/REST API calls.")
    flag("model_name", str, "default", "Name of the model (ignored with --model_config_file).")
    flag("model_base_path", str, "", "Path to export (ignored with --model_config_file).")
    flag("model_config_file", str, "", "ModelServerConfig text proto; supersedes model_name.")
    flag(
        "model_config_file_poll_wait_seconds",
        int,
        0,
        "Interval between polls of --model_config_file; 0 reads it once.",
    )
    flag(
        "file_system_poll_wait_seconds",
        int,
        1,
        "Interval between polls for new model versions; 0 polls once, negative never.",
    )
    flag(
        "allow_version_labels_for_unavailable_models",
        bool,
        False,
        "Allow assigning a new label to a version that is not loaded yet.",
    )
    flag("enable_batching", bool, False, "Enable server-side batching.")
    flag("batching_parameters_file", str, "", "BatchingParameters text proto.")
    flag("monitoring_config_file", str, "", "MonitoringConfig text proto.")
    flag("ssl_config_file", str, "", "SSLConfig text proto for the gRPC port.")
    flag("enable_model_warmup", bool, True, "Replay assets.extra/tf_serving_warmup_requests.")
    flag(
        "num_request_iterations_for_warmup",
        int,
        0,
        "Times each warmup record is replayed; used only when > 0.",
    )
    flag("max_num_load_retries", int, 5, "Retries of a failed load.")
    flag("load_retry_interval_micros", int, 60_000_000, "Wait between load retries.")
    # Accepted so a TF Serving command line runs unchanged; loads and unloads here always
    # run on one manager thread, off the request path (TF Serving's 0 runs them on its
    # manager loop, >= 1 on a pool).
    flag("num_load_threads", int, 0, "Threads for loading versions (accepted, loads are serial).")
    flag("num_unload_threads", int, 0, "Threads for unloading versions (accepted).")
    flag("grpc_max_threads", int, 4 * cpus, "Max threads serving gRPC requests.")
    flag("grpc_channel_arguments", str, "", "Comma separated gRPC server arguments k=v.")
    flag("tensorflow_session_parallelism", int, 0, "Threads per session; 0 lets TF decide.")
    flag("tensorflow_intra_op_parallelism", int, 0, "Intra-op threads; 0 lets TF decide.")
    flag("tensorflow_inter_op_parallelism", int, 0, "Inter-op threads; 0 lets TF decide.")
    return p


def parse_flags(argv: Sequence[str] | None = None) -> Flags:
    """Parse and cross-check flags; exits with status 2 on a bad combination."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.batching_parameters_file and not ns.enable_batching:
        # server.cc refuses this combination.
        parser.error(
            "server_options.batching_parameters_file is set without setting "
            "server_options.enable_batching to true."
        )
    if not ns.model_base_path and not ns.model_config_file:
        parser.error(
            "Both server_options.model_base_path and server_options.model_config_file are empty!"
        )
    if ns.port == 0:
        parser.error("server_options.grpc_port is not set.")
    base = ns.model_base_path
    if base and "://" not in base:
        # TF Serving demands absolute base paths; a relative --model_base_path is taken
        # relative to the working directory so the dev commands stay short.
        base = os.path.abspath(base)
    return Flags(**{**vars(ns), "model_base_path": base})
