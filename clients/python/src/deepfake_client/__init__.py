"""Python SDK of the deepfake detection API.

::

    from deepfake_client import Client

    with Client("https://gateway:8443", api_key="...", ca_cert="ca.pem") as client:
        result = client.detect("clip.mp4")
        print(result.verdict, result.score)

:class:`Client` and :class:`AsyncClient` share one core (:mod:`deepfake_client._core`);
response models (:mod:`deepfake_client.models`) are generated from the gateway's OpenAPI
document; every error code has its class in :mod:`deepfake_client.errors`;
:func:`verify_receipt` checks the signed receipt of an answer offline
(:mod:`deepfake_client.receipts`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import errors, models, receipts, webhooks
from ._async import AsyncClient
from ._core import InsecureTransportWarning, RetryPolicy
from ._sync import Client
from .errors import ApiError, DeepfakeError
from .jobs import Job, JobList
from .models import DetectionResponse, ModelsResponse
from .receipts import fetch_jwks, verify_receipt

try:
    __version__ = version("deepfake-client")
except PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "ApiError",
    "AsyncClient",
    "Client",
    "DeepfakeError",
    "DetectionResponse",
    "InsecureTransportWarning",
    "Job",
    "JobList",
    "ModelsResponse",
    "RetryPolicy",
    "__version__",
    "errors",
    "fetch_jwks",
    "models",
    "receipts",
    "verify_receipt",
    "webhooks",
]
