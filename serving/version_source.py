"""Version discovery under a model's base path and the version policies.

Follows ``file_system_storage_path_source.cc`` in TF Serving: a child whose
name parses as an int64 is a version (anything else is skipped silently);
two children that parse to the same number keep the last one listed, with a
warning; ``latest`` keeps the N highest numbers (N >= 1, default 1), ``all``
keeps every version, ``specific`` keeps the listed numbers present on disk. A
base path that does not exist emits nothing, so a transient outage does not
unload anything.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping

from tensorflow_serving.config import file_system_storage_path_source_pb2 as fs_pb2

import contract

log = logging.getLogger(__name__)

VersionPolicy = fs_pb2.FileSystemStoragePathSourceConfig.ServableVersionPolicy


class BasePathMissing(OSError):
    """The base path does not exist (TF Serving: "Could not find base path ...")."""


def list_versions(base_path: str) -> dict[int, str]:
    """Return version number -> directory for the integer-named children of ``base_path``."""
    if not os.path.exists(base_path):
        raise BasePathMissing(f"Could not find base path {base_path}")
    by_version: dict[int, str] = {}
    for child in sorted(os.listdir(base_path)):
        if not contract.is_version_dir_name(child):
            continue
        version = int(child)
        if version in by_version:
            log.warning(
                "Duplicate version directories detected. Version %d will be loaded from %s, "
                "%s will be ignored.",
                version,
                child,
                os.path.basename(by_version[version]),
            )
        by_version[version] = os.path.join(base_path, child)
    return by_version


def aspired_versions(
    name: str, base_path: str, children: Mapping[int, str], policy: VersionPolicy
) -> dict[int, str]:
    """Apply a ServableVersionPolicy to the versions found on disk."""
    choice = policy.WhichOneof("policy_choice")
    if choice in (None, "latest", "latest_once"):
        wanted = max(policy.latest.num_versions, 1)
        keep = sorted(children, reverse=True)[:wanted]
    elif choice == "all":
        keep = list(children)
    elif choice == "specific":
        requested = set(policy.specific.versions)
        keep = [v for v in children if v in requested]
        for version in sorted(requested - set(keep)):
            log.warning(
                "Version %d of servable %s, which was requested to be served as a 'specific' "
                "version in the servable's version policy, was not found in the file system",
                version,
                name,
            )
    else:  # pragma: no cover - the proto has no other choice
        raise ValueError(f"Unhandled servable version_policy: {choice}")
    if not keep:
        log.warning(
            "No versions of servable %s found under base path %s. Did you forget to name your "
            "leaf directory as a number (eg. '/1/')?",
            name,
            base_path,
        )
    return {v: children[v] for v in sorted(keep)}


#: Called with model name -> {version: path} for every model polled successfully.
AspiredCallback = Callable[[dict[str, dict[int, str]]], None]


class FileSystemSource:
    """Polls base paths and reports aspired versions, like FileSystemStoragePathSource.

    ``poll_wait_seconds`` > 0 polls periodically, 0 polls exactly once, and a
    negative value never polls (main.cc, ``--file_system_poll_wait_seconds``).
    """

    def __init__(self, callback: AspiredCallback, poll_wait_seconds: float) -> None:
        self._callback = callback
        self._poll_wait = poll_wait_seconds
        self._models: dict[str, tuple[str, VersionPolicy]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def update(self, models: Mapping[str, tuple[str, VersionPolicy]]) -> None:
        """Replace the monitored models (name -> (base_path, policy)) and poll now."""
        with self._lock:
            self._models = dict(models)
        if self._poll_wait >= 0:
            # A negative interval disables polling entirely, even the first scan.
            self.poll_once()

    def poll_once(self) -> None:
        """Scan every base path once and report what the policies aspire."""
        with self._lock:
            models = dict(self._models)
        result: dict[str, dict[int, str]] = {}
        for name, (base_path, policy) in models.items():
            try:
                children = list_versions(base_path)
            except OSError as exc:
                log.error(
                    "FileSystemStoragePathSource encountered a filesystem access error: "
                    "Could not find base path %s for servable %s with error %s",
                    base_path,
                    name,
                    exc,
                )
                continue
            result[name] = aspired_versions(name, base_path, children, policy)
        self._callback(result)

    def start(self) -> None:
        """Start periodic polling when the poll interval is positive."""
        if self._poll_wait <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="fs-poll", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._poll_wait):
            try:
                self.poll_once()
            except Exception:
                log.exception("file system poll failed")

    def stop(self) -> None:
        """Stop polling and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
