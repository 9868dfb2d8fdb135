"""Version states (``ModelVersionStatus.State``) and the row the manager publishes per version.

States are those of apis/get_model_status.proto: START, LOADING, AVAILABLE,
UNLOADING, END. A ``VersionState`` is what TF Serving's ServableStateMonitor
keeps per version (state and health), and what GetModelStatus reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from tensorflow_serving.apis import get_model_status_pb2

_State = get_model_status_pb2.ModelVersionStatus.State
START = _State.Value("START")
LOADING = _State.Value("LOADING")
AVAILABLE = _State.Value("AVAILABLE")
UNLOADING = _State.Value("UNLOADING")
END = _State.Value("END")


@dataclass(frozen=True)
class VersionState:
    """One version's latest state and health: a row of GetModelStatus."""

    version: int
    state: int
    error_code: grpc.StatusCode = grpc.StatusCode.OK
    error_message: str = ""
