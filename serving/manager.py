"""Servable versions: load, unload, states, and request handles.

The policy is TF Serving's ``AvailabilityPreservingPolicy``, the only one the
stock ``tensorflow_model_server`` uses (model_servers/server.cc): a newly
aspired version is loaded while the old one keeps serving, and a no-longer
aspired version is unloaded only once an aspired version is available (or when
nothing is aspired at all). The rules in ``_next_action`` follow
core/availability_preserving_policy.cc. Loads and unloads run serially on one
manager thread, as with TF Serving's default ``--num_load_threads=0``.

States are those of ``ModelVersionStatus`` (see ``version_state``):
START, LOADING, AVAILABLE, UNLOADING, END. A version that fails to load ends in
END with its error, and stays out of the way until it is un-aspired, so the
version that was serving keeps serving (AspiredVersionsManager does not retry
a failed version unless asked to).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc

from .errors import ServingError, from_exception, not_found
from .version_state import AVAILABLE, END, LOADING, START, UNLOADING, VersionState

log = logging.getLogger(__name__)

#: (model name, version, path) -> loaded servable (anything with ``close()``); raises on failure.
Loader = Callable[[str, int, str], Any]


class _Harness:
    """One version's lifecycle inside the manager (TF Serving's LoaderHarness)."""

    def __init__(self, name: str, version: int, path: str) -> None:
        self.name = name
        self.version = version
        self.path = path
        self.aspired = True
        self.state = START
        self.failed = False
        self.servable: Any = None
        self.refs = 0


class Manager:
    """Loads and unloads versions of every model and hands out servables to requests."""

    def __init__(
        self,
        loader: Loader,
        *,
        max_num_load_retries: int,
        load_retry_interval_s: float,
    ) -> None:
        self._loader = loader
        self._max_retries = max(0, max_num_load_retries)
        self._retry_interval = max(0.0, load_retry_interval_s)
        self._cond = threading.Condition()
        self._harnesses: dict[str, dict[int, _Harness]] = {}
        #: Every state ever published, per model (ServableStateMonitor); END rows stay.
        self._states: dict[str, dict[int, VersionState]] = {}
        self._stopping = False
        self._work = threading.Event()
        self._listeners: list[Callable[[str, VersionState], None]] = []
        self._thread = threading.Thread(target=self._run, name="manager", daemon=True)
        self._thread.start()

    # --- Inputs from the source -----------------------------------------------------------

    def set_aspired_versions(self, name: str, versions: Mapping[int, str]) -> None:
        """Declare the versions (number -> path) of ``name`` that should be served."""
        with self._cond:
            live = self._harnesses.setdefault(name, {})
            for version, harness in list(live.items()):
                harness.aspired = version in versions
                if not harness.aspired and harness.state == START and not harness.failed:
                    # Never started loading: nothing to unload.
                    del live[version]
                    self._publish(harness, END)
                elif not harness.aspired and harness.failed:
                    del live[version]
            for version, path in versions.items():
                if version not in live:
                    harness = _Harness(name, version, path)
                    live[version] = harness
                    self._publish(harness, START)
        self._work.set()

    def add_listener(self, listener: Callable[[str, VersionState], None]) -> None:
        """Call ``listener(model, status)`` on every state change (from manager threads)."""
        self._listeners.append(listener)

    # --- Requests ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def handle(self, name: str, version: int | None = None) -> Iterator[tuple[int, Any]]:
        """Hold an AVAILABLE version of ``name`` for the duration of a request.

        ``version=None`` asks for the highest available version (ServableRequest
        Latest); an explicit number must be AVAILABLE. Unknown -> NOT_FOUND with
        TF Serving's message ("Servable not found for request: ...").
        """
        with self._cond:
            harness = self._find(name, version)
            harness.refs += 1
        try:
            yield harness.version, harness.servable
        finally:
            with self._cond:
                harness.refs -= 1
                if harness.refs == 0:
                    self._cond.notify_all()

    def _find(self, name: str, version: int | None) -> _Harness:
        live = self._harnesses.get(name, {})
        ready = [h for h in live.values() if h.state == AVAILABLE]
        if version is None:
            if ready:
                return max(ready, key=lambda h: h.version)
            raise not_found(f"Servable not found for request: Latest({name})")
        for harness in ready:
            if harness.version == version:
                return harness
        raise not_found(f"Servable not found for request: Specific({name}, {version})")

    def version_states(self, name: str) -> dict[int, VersionState]:
        """Every version the manager has seen for ``name``, with its latest state."""
        with self._cond:
            return dict(self._states.get(name, {}))

    def wait_until_available(self, names: list[str]) -> dict[str, VersionState | None]:
        """Wait until the latest known version of every model is AVAILABLE or END.

        Mirrors ServableStateMonitor::WaitUntilServablesReachState for
        ``Latest(name)`` requests: a model with no version yet keeps the wait
        going. Returns, for each model that did not become available, its
        latest state (None when the manager stops before any version appears).
        """

        def pending() -> dict[str, VersionState | None]:
            out: dict[str, VersionState | None] = {}
            for name in names:
                states = self._states.get(name, {})
                live = self._harnesses.get(name, {})
                if any(h.state == AVAILABLE for h in live.values()):
                    continue
                newest = states[max(states)] if states else None
                out[name] = newest
            return out

        with self._cond:
            while True:
                left = pending()
                if all(s is not None and s.state == END for s in left.values()):
                    return left
                if self._stopping:
                    return left
                self._cond.wait(1.0)

    # --- Manager thread ---------------------------------------------------------------------

    def _publish(self, harness: _Harness, state: int, error: ServingError | None = None) -> None:
        """Record a state change; caller holds the lock."""
        harness.state = state
        status = VersionState(
            harness.version,
            state,
            error.code if error else grpc.StatusCode.OK,
            error.message if error else "",
        )
        self._states.setdefault(harness.name, {})[harness.version] = status
        self._cond.notify_all()
        for listener in self._listeners:
            try:
                listener(harness.name, status)
            except Exception:
                log.exception("state listener failed")

    def _next_action(self, live: dict[int, _Harness]) -> tuple[str, _Harness] | None:
        """AvailabilityPreservingPolicy::GetNextAction for one model's versions."""
        aspired = [h for h in live.values() if h.aspired]
        has_aspired_serving = any(h.state == AVAILABLE for h in aspired)
        unaspired_serving = [h for h in live.values() if not h.aspired and h.state == AVAILABLE]
        if (not aspired or has_aspired_serving or len(unaspired_serving) > 1) and (
            unaspired_serving
        ):
            return "unload", min(unaspired_serving, key=lambda h: h.version)
        new = [h for h in aspired if h.state == START and not h.failed]
        if new:
            return "load", max(new, key=lambda h: h.version)
        return None

    def _pick(self) -> tuple[str, _Harness] | None:
        with self._cond:
            for live in self._harnesses.values():
                action = self._next_action(live)
                if action is not None:
                    return action
        return None

    def _run(self) -> None:
        while True:
            self._work.wait()
            self._work.clear()
            while not self._stopping:
                action = self._pick()
                if action is None:
                    break
                kind, harness = action
                if kind == "load":
                    self._load(harness)
                else:
                    self._unload(harness)
            if self._stopping:
                return

    def _load(self, harness: _Harness) -> None:
        with self._cond:
            self._publish(harness, LOADING)
        log.info("Loading servable: {name: %s version: %d}", harness.name, harness.version)
        attempt = 0
        while True:
            try:
                servable = self._loader(harness.name, harness.version, harness.path)
                break
            except Exception as exc:  # a failed load is data, not a crash
                error = from_exception(exc)
                with self._cond:
                    give_up = attempt >= self._max_retries or not harness.aspired or self._stopping
                if give_up:
                    log.error(
                        "Loading servable: {name: %s version: %d} failed: %s",
                        harness.name,
                        harness.version,
                        error.message,
                    )
                    with self._cond:
                        harness.failed = True
                        self._publish(harness, END, error)
                        if not harness.aspired:
                            self._harnesses.get(harness.name, {}).pop(harness.version, None)
                    return
                attempt += 1
                log.warning(
                    "Retrying load of {name: %s version: %d} (%d/%d) in %.1fs: %s",
                    harness.name,
                    harness.version,
                    attempt,
                    self._max_retries,
                    self._retry_interval,
                    error.message,
                )
                time.sleep(self._retry_interval)
        with self._cond:
            harness.servable = servable
            self._publish(harness, AVAILABLE)
        log.info(
            "Successfully loaded servable version {name: %s version: %d}",
            harness.name,
            harness.version,
        )

    def _unload(self, harness: _Harness) -> None:
        log.info("Unloading servable version {name: %s version: %d}", harness.name, harness.version)
        with self._cond:
            # Out of the serving map first; in-flight requests keep their reference.
            self._publish(harness, UNLOADING)
            while harness.refs > 0:
                self._cond.wait()
        try:
            harness.servable.close()
        except Exception:
            log.exception("closing %s version %d failed", harness.name, harness.version)
        with self._cond:
            harness.servable = None
            self._harnesses.get(harness.name, {}).pop(harness.version, None)
            self._publish(harness, END)
        log.info(
            "Done unloading servable version {name: %s version: %d}", harness.name, harness.version
        )

    def stop(self) -> None:
        """Stop the manager thread and unload everything that is loaded."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._work.set()
        self._thread.join()
        with self._cond:
            harnesses = [h for live in self._harnesses.values() for h in live.values()]
        for harness in harnesses:
            if harness.state == AVAILABLE:
                self._unload(harness)
