"""Typed errors of the SDK: one class per error code the gateway answers.

Exception tree::

    DeepfakeError                         anything this SDK raises
    ├── TransportError                    no HTTP answer (connection, TLS, timeout)
    ├── WebhookVerificationError          a webhook's signature or timestamp is wrong
    ├── ReceiptVerificationError          a receipt's signature, key id or media hash is wrong
    ├── JobFailed                         jobs.wait(): the job ended failed/canceled/expired
    ├── WaitTimeout                       jobs.wait(): the job did not end in time
    └── ApiError                          the gateway answered {"error": {...}}; .code, .status
        ├── AuthError
        │   ├── MissingApiKey             401 missing_api_key
        │   └── InvalidApiKey             403 invalid_api_key
        ├── RequestError
        │   ├── BadRequest                400 bad_request
        │   ├── RequestTimeout            408 request_timeout
        │   ├── HeadersTooLarge           431 headers_too_large
        │   ├── MissingVideo              422 missing_video
        │   ├── UploadTooLarge            413 upload_too_large
        │   ├── UnsupportedMediaType      415 unsupported_media_type
        │   ├── InvalidVideo              415 invalid_video
        │   ├── InvalidImage              415 invalid_image
        │   ├── ImageTooLarge             413 image_too_large
        │   ├── VideoLimitExceeded        422 video_limit_exceeded
        │   ├── AggregationUnavailable    422 aggregation_unavailable
        │   ├── UnknownOperatingPoint     422 unknown_operating_point
        │   ├── InvalidParameters         422 validation_error
        │   ├── ClientDisconnected        499 client_disconnected
        │   ├── NotFound                  404 not_found
        │   ├── MethodNotAllowed          405 method_not_allowed
        │   ├── JobNotFound               404 job_not_found
        │   ├── ManifestUnavailable       404 manifest_unavailable
        │   ├── JobNotCancelable          409 job_not_cancelable
        │   ├── NoWebhook                 409 no_webhook
        │   ├── JobHasNoResult            409 job_has_no_result
        │   ├── JobMediaGone              410 job_media_gone
        │   ├── IdempotencyMismatch       422 idempotency_mismatch
        │   ├── CallbackRefused           422 callback_refused
        │   └── WebhookSecretMissing      422 webhook_secret_missing
        ├── Overloaded                    429 overloaded (.retry_after)
        ├── RateLimited                   429 rate_limited (.retry_after)
        ├── InsufficientStorage           507 insufficient_storage (.retry_after)
        ├── JobStoreUnavailable           503 job_store_unavailable (.retry_after)
        ├── InternalError                 500 internal
        └── UpstreamError
            ├── ModelNotFound             404 model_not_found
            ├── ServingUnavailable        503 serving_unavailable (.retry_after)
            ├── ServingTimeout            504 serving_timeout
            └── InferenceFailed           502 inference_failed

:data:`ERRORS_BY_CODE` maps each code to its class; :func:`error_for` builds the error of an
answer, falling back to :class:`ApiError` (with the code kept in ``.code``) for codes this
version of the SDK does not know.

Its length is one class per error code, mirroring the gateway's table.
"""

from __future__ import annotations

from typing import ClassVar


class DeepfakeError(Exception):
    """Base of every error this SDK raises."""


class TransportError(DeepfakeError):
    """The request got no HTTP answer: connection refused or reset, TLS failure, timeout."""


class WebhookVerificationError(DeepfakeError):
    """A webhook delivery's headers, timestamp or signature do not verify."""


class ReceiptVerificationError(DeepfakeError):
    """A receipt does not verify: malformed, an unknown key id, a bad signature, or the media
    file's SHA-256 is not the one it signs."""


class JobFailed(DeepfakeError):
    """A job waited for ended in ``failed``, ``canceled`` or ``expired``."""

    def __init__(self, job: object, message: str) -> None:
        super().__init__(message)
        #: The job (:class:`deepfake_client.jobs.Job`) as last seen.
        self.job = job


class WaitTimeout(DeepfakeError):
    """A job waited for did not reach a final state in time."""


class ApiError(DeepfakeError):
    """The gateway answered with an error body ``{"error": {"code", "message"}}``.

    ``code`` is the gateway's code (also for codes this SDK has no class for), ``status`` the
    HTTP status, ``retry_after`` the seconds of ``Retry-After`` when the answer had one.
    """

    #: The code this class stands for; ``None`` on classes that group several codes.
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int = 0,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code or "unknown"
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class AuthError(ApiError):
    """The request is not authenticated."""


class MissingApiKey(AuthError):
    """No or malformed ``Authorization`` header (401)."""

    default_code = "missing_api_key"


class InvalidApiKey(AuthError):
    """Unknown or revoked API key (403)."""

    default_code = "invalid_api_key"


class RequestError(ApiError):
    """The gateway cannot process what was sent."""


class BadRequest(RequestError):
    """Malformed multipart body, too many parts or part headers too large (400)."""

    default_code = "bad_request"


class RequestTimeout(RequestError):
    """The upload stalled or was too slow (408)."""

    default_code = "request_timeout"


class HeadersTooLarge(RequestError):
    """Request line and headers too large (431)."""

    default_code = "headers_too_large"


class MissingVideo(RequestError):
    """No video field, or an empty body (422)."""

    default_code = "missing_video"


class UploadTooLarge(RequestError):
    """The upload is over the gateway's size limit (413)."""

    default_code = "upload_too_large"


class UnsupportedMediaType(RequestError):
    """The body is neither multipart/form-data nor video/* or image/* (415)."""

    default_code = "unsupported_media_type"


class InvalidVideo(RequestError):
    """Neither a JPEG, PNG or WebP image nor a video, or no decodable video stream (415)."""

    default_code = "invalid_video"


class InvalidImage(RequestError):
    """A JPEG, PNG or WebP image that cannot be decoded: truncated or corrupt (415)."""

    default_code = "invalid_image"


class ImageTooLarge(RequestError):
    """The image declares more pixels than the gateway's limit; refused undecoded (413)."""

    default_code = "image_too_large"


class VideoLimitExceeded(RequestError):
    """The video is over a limit: duration, frames or resolution (422)."""

    default_code = "video_limit_exceeded"


class AggregationUnavailable(RequestError):
    """Aggregation ``sequence`` asked of a version without a sequence head (422)."""

    default_code = "aggregation_unavailable"


class UnknownOperatingPoint(RequestError):
    """An ``operating_point`` the answering version does not list; the message names those
    it does (422)."""

    default_code = "unknown_operating_point"


class InvalidParameters(RequestError):
    """A parameter out of range, of the wrong type, or contradicting another (422)."""

    default_code = "validation_error"


class ClientDisconnected(RequestError):
    """The gateway saw the client go away (499; normally never received)."""

    default_code = "client_disconnected"


class NotFound(RequestError):
    """No such route or resource (404)."""

    default_code = "not_found"


class MethodNotAllowed(RequestError):
    """The route does not answer this method (405)."""

    default_code = "method_not_allowed"


class JobNotFound(RequestError):
    """No such job for this API key, or it was deleted or has expired (404)."""

    default_code = "job_not_found"


class JobNotCancelable(RequestError):
    """The job has already ended (409)."""

    default_code = "job_not_cancelable"


class NoWebhook(RequestError):
    """The job has no callback URL to deliver to again (409)."""

    default_code = "no_webhook"


class JobHasNoResult(RequestError):
    """A view of the result (the timeline image) of a job that has not succeeded (409)."""

    default_code = "job_has_no_result"


class JobMediaGone(RequestError):
    """A replay or verdict manifest of a job whose media is no longer kept (410): it expired,
    or the gateway does not keep media after a job ends."""

    default_code = "job_media_gone"


class ManifestUnavailable(RequestError):
    """A verdict manifest asked of a gateway that signs none (404)."""

    default_code = "manifest_unavailable"


class IdempotencyMismatch(RequestError):
    """The ``Idempotency-Key`` was used before for a different request (422)."""

    default_code = "idempotency_mismatch"


class CallbackRefused(RequestError):
    """The callback URL is not one the gateway will deliver to (422)."""

    default_code = "callback_refused"


class WebhookSecretMissing(RequestError):
    """A callback URL needs a webhook secret for this API key first (422)."""

    default_code = "webhook_secret_missing"


class Overloaded(ApiError):
    """Too many videos in progress at the gateway; retry after ``retry_after`` (429)."""

    default_code = "overloaded"


class RateLimited(ApiError):
    """This API key is over its request rate or concurrency; retry after ``retry_after`` (429)."""

    default_code = "rate_limited"


class InsufficientStorage(ApiError):
    """The gateway's disk is full; nothing was kept; retry after ``retry_after`` (507)."""

    default_code = "insufficient_storage"


class JobStoreUnavailable(ApiError):
    """The gateway's job database did not answer; nothing was kept; retry after
    ``retry_after`` (503)."""

    default_code = "job_store_unavailable"


class InternalError(ApiError):
    """Unexpected failure in the gateway (500)."""

    default_code = "internal"


class UpstreamError(ApiError):
    """The model server behind the gateway could not answer."""


class ModelNotFound(UpstreamError):
    """Unknown model, version or label (404)."""

    default_code = "model_not_found"


class ServingUnavailable(UpstreamError):
    """The model server is unreachable or overloaded; retry after ``retry_after`` (503)."""

    default_code = "serving_unavailable"


class ServingTimeout(UpstreamError):
    """The model server or the whole request ran past its deadline (504)."""

    default_code = "serving_timeout"


class InferenceFailed(UpstreamError):
    """The model server failed the request or answered malformed outputs (502)."""

    default_code = "inference_failed"


def _leaves(cls: type[ApiError]) -> list[type[ApiError]]:
    found = [cls] if cls.default_code else []
    for sub in cls.__subclasses__():
        found.extend(_leaves(sub))
    return found


#: Error class of each code the gateway answers.
ERRORS_BY_CODE: dict[str, type[ApiError]] = {
    cls.default_code: cls for cls in _leaves(ApiError) if cls.default_code
}

#: Codes worth retrying as they are: the gateway says when (``Retry-After``).
RETRYABLE_CODES = frozenset(
    {
        "overloaded",
        "rate_limited",
        "serving_unavailable",
        "insufficient_storage",
        "job_store_unavailable",
    }
)


def error_for(
    status: int,
    code: str | None,
    message: str,
    *,
    retry_after: float | None = None,
    request_id: str | None = None,
) -> ApiError:
    """The typed error of an error answer; :class:`ApiError` for unknown codes."""
    cls = ERRORS_BY_CODE.get(code or "", ApiError)
    return cls(message, code=code, status=status, retry_after=retry_after, request_id=request_id)
