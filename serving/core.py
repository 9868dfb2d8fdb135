"""The model server core: the model config, version labels, the source and the manager.

Mirrors ``ServerCore`` (model_servers/server_core.cc): a ``ModelServerConfig``
is validated, its version labels are checked against what is AVAILABLE now,
the file-system source is pointed at the configured base paths, and the call
waits until every newly added model has a version AVAILABLE.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import grpc
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.config import model_server_config_pb2

from .errors import ServingError, invalid_argument
from .manager import Manager
from .version_source import FileSystemSource
from .version_state import AVAILABLE

log = logging.getLogger(__name__)

TENSORFLOW_PLATFORM = "tensorflow"


def single_model_config(name: str, base_path: str) -> model_server_config_pb2.ModelServerConfig:
    """The config that ``--model_name``/``--model_base_path`` stand for (server.cc)."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = name
    model.base_path = base_path
    model.model_platform = TENSORFLOW_PLATFORM
    return config


def _validate(config: model_server_config_pb2.ModelServerConfig) -> None:
    """ValidateModelConfigList and the platform checks of server_core.cc."""
    names: set[str] = set()
    for model in config.model_config_list.config:
        if model.name in names:
            raise invalid_argument(
                f"Illegal to list model {model.name} multiple times in config list"
            )
        names.add(model.name)
    for model in config.model_config_list.config:
        path = model.base_path
        if "://" not in path and not path.startswith("/"):
            raise invalid_argument(
                f"Expected model {model.name} to have an absolute path or URI; "
                f"got base_path()={path}"
            )
        if model.model_type and model.model_platform:
            raise invalid_argument(
                "Illegal setting both ModelServerConfig::model_type (deprecated) and "
                "ModelServerConfig::model_platform."
            )
        platform = TENSORFLOW_PLATFORM if model.model_type == 1 else model.model_platform
        if not platform:
            raise invalid_argument(
                "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                "ModelServerConfig::model_platform."
            )
        if platform != TENSORFLOW_PLATFORM:
            raise invalid_argument(f"Model {model.name} requests unsupported platform {platform}")


class ServerCore:
    """Holds the current config and label map, and routes ModelSpecs to servables."""

    def __init__(
        self,
        manager: Manager,
        *,
        file_system_poll_wait_seconds: float,
        allow_version_labels_for_unavailable_models: bool,
    ) -> None:
        self.manager = manager
        self._allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self._config = model_server_config_pb2.ModelServerConfig()
        self._config_lock = threading.Lock()
        self._labels: dict[str, dict[str, int]] | None = None
        self._labels_lock = threading.Lock()
        self._source = FileSystemSource(self._on_aspired, file_system_poll_wait_seconds)
        self._monitored: set[str] = set()

    @property
    def config(self) -> model_server_config_pb2.ModelServerConfig:
        """The config in force."""
        with self._config_lock:
            copy = model_server_config_pb2.ModelServerConfig()
            copy.CopyFrom(self._config)
            return copy

    def _on_aspired(self, found: dict[str, dict[int, str]]) -> None:
        for name, versions in found.items():
            if name in self._monitored:
                self.manager.set_aspired_versions(name, versions)

    # --- Config -----------------------------------------------------------------------------

    def reload_config(self, new_config: model_server_config_pb2.ModelServerConfig) -> None:
        """Apply a ModelServerConfig as ServerCore::ReloadConfig does; raise ServingError.

        Models left out of the new config are unloaded. The call returns once
        every model new to this config has a version AVAILABLE (or failed).
        """
        with self._config_lock:
            kind = new_config.WhichOneof("config")
            current = self._config.WhichOneof("config")
            if current is not None and not (
                current == "model_config_list" and kind == "model_config_list"
            ):
                raise ServingError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "Cannot transition to requested config. It is only legal to transition "
                    "from one ModelConfigList to another.",
                )
            if kind is None:
                log.info("Taking no action for empty config.")
                return
            if kind != "model_config_list":
                raise invalid_argument("Invalid ServerModelConfig")
            _validate(new_config)
            self._update_labels(new_config)
            self._config.CopyFrom(new_config)
            log.info("Adding/updating models.")
            old = set(self._monitored)
            models = {
                m.name: (m.base_path, m.model_version_policy)
                for m in new_config.model_config_list.config
            }
            for name in models:
                log.info(" (Re-)adding model: %s", name)
            self._monitored = set(models)
            for removed in old - set(models):
                self.manager.set_aspired_versions(removed, {})
            self._source.update(models)
            self._source.start()
            new_models = sorted(set(models) - old)
            failed = self.manager.wait_until_available(new_models)
            if failed:
                parts = []
                for name, status in failed.items():
                    if status is None:
                        parts.append(f"{{name: {name} (no version found)}}")
                    else:
                        reason = (
                            f" due to error: {status.error_code.name}: {status.error_message}"
                            if status.error_message
                            else ""
                        )
                        parts.append(f"{{{{name: {name} version: {status.version}}}{reason}}}")
                raise ServingError(
                    grpc.StatusCode.UNKNOWN,
                    f"{len(failed)} model(s) did not become available: {{{', '.join(parts)}, }}",
                )
            log.info("Finished adding/updating models")

    def _update_labels(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        """ServerCore::UpdateModelVersionLabelMap: labels must name AVAILABLE versions.

        With ``--allow_version_labels_for_unavailable_models`` a label may name a
        version that is not available yet, but only when the label is new or
        keeps its version, so a label is never moved to a version still loading.
        """
        new_map: dict[str, dict[str, int]] = {}
        for model in config.model_config_list.config:
            states = self.manager.version_states(model.name)
            for label, version in model.version_labels.items():
                allow = False
                if self._allow_unavailable_labels:
                    existing = self._label_version(model.name, label)
                    allow = existing is None or existing == version
                status = states.get(version)
                if not allow and (status is None or status.state != AVAILABLE):
                    raise ServingError(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"Request to assign label to version {version} of model {model.name}, "
                        "which is not currently available for inference",
                    )
                new_map.setdefault(model.name, {})[label] = version
        with self._labels_lock:
            self._labels = new_map

    def _label_version(self, name: str, label: str) -> int | None:
        with self._labels_lock:
            if self._labels is None:
                return None
            return self._labels.get(name, {}).get(label)

    # --- Requests ---------------------------------------------------------------------------

    def resolve_version(self, spec: model_pb2.ModelSpec) -> int | None:
        """ServerCore::ServableRequestFromModelSpec: version, label, or latest (None)."""
        if not spec.name:
            raise invalid_argument("ModelSpec has no name specified.")
        choice = spec.WhichOneof("version_choice")
        if choice == "version":
            return spec.version.value
        if choice == "version_label":
            with self._labels_lock:
                if self._labels is None:
                    raise ServingError(
                        grpc.StatusCode.UNAVAILABLE,
                        f"Model labels does not init yet.{spec.version_label}",
                    )
                version = self._labels.get(spec.name, {}).get(spec.version_label)
            if version is None:
                raise invalid_argument(f"Unrecognized servable version label: {spec.version_label}")
            return version
        return None

    @contextlib.contextmanager
    def servable(self, spec: model_pb2.ModelSpec) -> Iterator[tuple[int, Any]]:
        """Hold the servable a ModelSpec names for the length of a request."""
        version = self.resolve_version(spec)
        with self.manager.handle(spec.name, version) as held:
            yield held

    def stop(self) -> None:
        """Stop polling; the manager is stopped by its owner."""
        self._source.stop()
