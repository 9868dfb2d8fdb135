"""Python SDK of the deepfake detection API.

::

    from deepfake_client import Client

    with Client("https://gateway:8443", api_key="...", ca_cert="ca.pem") as client:
        result = client.detect("clip.mp4")
        print(result.verdict, result.score)

:class:`Client` (``_sync``) and :class:`AsyncClient` (``_async``) share one core
(``_core``: requests, uploads, answers), the retry policy (``_retries``) and the SSE parser
(``_sse``); ``jobs`` is what both share about asynchronous jobs, ``webhooks`` verifies signed
deliveries. Response models (``models``) are generated from the gateway's OpenAPI document;
every error code has its class in ``errors``. The ``deepfake`` command is ``cli`` (with
``cli_options``, what its commands share, ``cli_jobs`` and ``cli_live``), started by
``_entry``.
:func:`verify_receipt` checks the signed receipt of an answer offline (``receipts``).
``client.live()`` opens a live session on the ``/v1/live`` WebSocket: :class:`LiveSession`
(``live_sync``) and :class:`AsyncLiveSession` (``live``) share their core (``_live``);
their messages are typed in ``live_models``; ``camera`` reads frames with OpenCV.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import errors, live_models, models, receipts, webhooks
from ._async import AsyncClient
from ._core import InsecureTransportWarning
from ._retries import RetryPolicy
from ._sync import Client
from .errors import ApiError, DeepfakeError
from .jobs import Job, JobList
from .live import AsyncLiveSession
from .live_models import LiveSummary, LiveVerdict
from .live_sync import LiveSession
from .models import DetectionResponse, ModelsResponse
from .receipts import fetch_jwks, verify_receipt

try:
    __version__ = version("deepfake-client")
except PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "ApiError",
    "AsyncClient",
    "AsyncLiveSession",
    "Client",
    "DeepfakeError",
    "DetectionResponse",
    "InsecureTransportWarning",
    "Job",
    "JobList",
    "LiveSession",
    "LiveSummary",
    "LiveVerdict",
    "ModelsResponse",
    "RetryPolicy",
    "__version__",
    "errors",
    "fetch_jwks",
    "live_models",
    "models",
    "receipts",
    "verify_receipt",
    "webhooks",
]
