"""Domain errors of the gateway: the one table of statuses and codes, and its HTTP mapping.

Exception tree::

    GatewayError                      500 internal
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
    │   ├── InvalidParameters         422 validation_error
    │   ├── ClientDisconnected        499 client_disconnected
    │   ├── JobNotFound               404 job_not_found
    │   ├── ManifestUnavailable       404 manifest_unavailable
    │   ├── JobNotCancelable          409 job_not_cancelable
    │   ├── NoWebhook                 409 no_webhook
    │   ├── JobHasNoResult            409 job_has_no_result
    │   ├── JobMediaGone              410 job_media_gone
    │   ├── IdempotencyMismatch       422 idempotency_mismatch
    │   ├── CallbackRefused           422 callback_refused
    │   └── WebhookSecretMissing      422 webhook_secret_missing
    ├── Overloaded                    429 overloaded (Retry-After)
    ├── RateLimited                   429 rate_limited (Retry-After)
    ├── InsufficientStorage           507 insufficient_storage (Retry-After)
    ├── JobStoreUnavailable           503 job_store_unavailable (Retry-After)
    └── UpstreamError
        ├── ModelNotFound             404 model_not_found
        ├── ServingUnavailable        503 serving_unavailable (Retry-After)
        ├── ServingTimeout            504 serving_timeout
        └── InferenceFailed           502 inference_failed

Each class carries its status, code and a one-line ``summary``. Route code raises these;
:mod:`gateway.api.error_responses` turns every one of them (and FastAPI's own validation and
routing errors) into ``{"error": {"code", "message"}}`` and builds each route's documented
responses from the same classes, so the OpenAPI document lists exactly what the handlers
send. An error may name ``companions``: errors that can occur wherever it can (the disk
filling up wherever an upload is written), documented with it.

A job that fails reports the same codes in its ``error``; more codes only ever appear
there: ``canceled`` (:data:`JOB_CANCELED`), ``worker_lost`` (:data:`WORKER_LOST`),
``media_undecryptable`` (:data:`MEDIA_UNDECRYPTABLE`) and the codes of a job whose media
URL could not be fetched (:class:`MediaFetchError`, :data:`MEDIA_FETCH_CODES`).
"""

from __future__ import annotations

import errno

#: The ``errno`` values of a full disk (or quota): ``insufficient_storage``, not ``internal``.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class GatewayError(Exception):
    """Base of every error the gateway reports to a client."""

    status_code = 500
    code = "internal"
    summary = "Unexpected failure in the gateway"
    retry_after_s: int | None = None
    #: Answer with ``Connection: close``: the request body may be left unread.
    closes_connection = False

    #: Errors that can occur wherever this one can; documented along with it.
    companions: tuple[type[GatewayError], ...] = ()

    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s


class AuthError(GatewayError):
    """The request is not authenticated."""


class MissingApiKey(AuthError):
    status_code = 401
    code = "missing_api_key"
    summary = "No or malformed Authorization header"


class InvalidApiKey(AuthError):
    status_code = 403
    code = "invalid_api_key"
    summary = "Unknown or revoked API key"


class RequestError(GatewayError):
    """The client sent something the gateway cannot process."""

    status_code = 400
    code = "bad_request"
    summary = "The request cannot be processed"


class BadRequest(RequestError):
    summary = "Malformed multipart body, too many parts or part headers too large"


class RequestTimeout(RequestError):
    status_code = 408
    code = "request_timeout"
    summary = "Upload stalled or slower than GATEWAY_UPLOAD_MIN_BYTES_PER_S"
    closes_connection = True


class HeadersTooLarge(RequestError):
    status_code = 431
    code = "headers_too_large"
    summary = "Request line and headers over GATEWAY_MAX_HEADER_BYTES"
    closes_connection = True


class AggregationUnavailable(RequestError):
    """The aggregation asked for needs something the answering version lacks."""

    status_code = 422
    code = "aggregation_unavailable"
    summary = "Aggregation sequence asked of a version without a sequence head"


class UnknownOperatingPoint(RequestError):
    """The operating point asked for is not one the answering version lists."""

    status_code = 422
    code = "unknown_operating_point"
    summary = "operating_point not among the answering version's operating points"


class MissingVideo(RequestError):
    status_code = 422
    code = "missing_video"
    summary = "No video field, or an empty body"


class InsufficientStorage(GatewayError):
    """The disk under ``GATEWAY_VAR_DIR`` is full: the upload cannot be stored right now."""

    status_code = 507
    code = "insufficient_storage"
    summary = "No disk space left to store the upload (Retry-After)"
    retry_after_s = 5


class JobStoreUnavailable(GatewayError):
    """The job store's database (a PostgreSQL ``GATEWAY_JOB_STORE``) did not answer.

    Whatever the request was doing in it was rolled back: nothing is half-recorded.
    """

    status_code = 503
    code = "job_store_unavailable"
    summary = "The job store's database cannot be reached (Retry-After)"
    retry_after_s = 5


class UploadTooLarge(RequestError):
    status_code = 413
    code = "upload_too_large"
    summary = "Upload over GATEWAY_MAX_UPLOAD_BYTES (checked while streaming)"
    closes_connection = True
    # Every route that streams an upload to disk may find the disk full.
    companions = (InsufficientStorage,)


class UnsupportedMediaType(RequestError):
    status_code = 415
    code = "unsupported_media_type"
    summary = "Body neither multipart/form-data nor video/* or image/*"


class InvalidVideo(RequestError):
    status_code = 415
    code = "invalid_video"
    summary = "Neither a JPEG, PNG or WebP image nor a video, or no decodable video stream"


class InvalidImage(RequestError):
    """The bytes are a JPEG, PNG or WebP image's, but the picture does not decode."""

    status_code = 415
    code = "invalid_image"
    summary = "A JPEG, PNG or WebP image that cannot be decoded (truncated or corrupt)"


class ImageTooLarge(RequestError):
    """A still image declares more pixels than allowed: refused from its header, undecoded."""

    status_code = 413
    code = "image_too_large"
    summary = "Image over GATEWAY_MAX_IMAGE_PIXELS, read from its header before decoding"


class VideoLimitExceeded(RequestError):
    status_code = 422
    code = "video_limit_exceeded"
    summary = "Video over a limit (duration, frames, resolution, decoding cost)"


class InvalidParameters(RequestError):
    """Query parameters rejected: by FastAPI's validation, or contradictory together."""

    status_code = 422
    code = "validation_error"
    summary = "A parameter out of range or of the wrong type"


class ClientDisconnected(RequestError):
    # Never seen by the client; used to abort work and clean up.
    status_code = 499
    code = "client_disconnected"
    summary = "The client went away mid-upload (logged, never received)"


class Overloaded(GatewayError):
    status_code = 429
    code = "overloaded"
    summary = "Too many videos in progress and waiting, or uploads being received (Retry-After)"
    retry_after_s = 1


class RateLimited(GatewayError):
    status_code = 429
    code = "rate_limited"
    summary = "This API key is over its request rate or concurrent requests (Retry-After)"
    retry_after_s = 1


class UpstreamError(GatewayError):
    """Serving could not answer."""


class ModelNotFound(UpstreamError):
    status_code = 404
    code = "model_not_found"
    summary = "Unknown model, version or label"


class ServingUnavailable(UpstreamError):
    status_code = 503
    code = "serving_unavailable"
    summary = "Serving unreachable or overloaded (Retry-After)"
    retry_after_s = 2


class ServingTimeout(UpstreamError):
    status_code = 504
    code = "serving_timeout"
    summary = "Serving or the whole request past its deadline"


class InferenceFailed(UpstreamError):
    status_code = 502
    code = "inference_failed"
    summary = "Serving failed the request or answered malformed outputs"


class JobNotFound(RequestError):
    """No such job for this API key (another key's jobs are not found either)."""

    status_code = 404
    code = "job_not_found"
    summary = "No such job for this API key"


class ManifestUnavailable(RequestError):
    """A verdict manifest asked of a gateway that signs none (no GATEWAY_C2PA_SIGN_CERT)."""

    status_code = 404
    code = "manifest_unavailable"
    summary = "This gateway signs no verdict manifests (GATEWAY_C2PA_SIGN_CERT is unset)"


class JobNotCancelable(RequestError):
    status_code = 409
    code = "job_not_cancelable"
    summary = "The job already ended"


class NoWebhook(RequestError):
    """Redelivery asked of a job that sent no webhook."""

    status_code = 409
    code = "no_webhook"
    summary = "The job has no webhook delivery to repeat"


class JobHasNoResult(RequestError):
    """A view of the result (the timeline plot) asked of a job that has not succeeded."""

    status_code = 409
    code = "job_has_no_result"
    summary = "The job has not succeeded (yet), so it has no result to show"


class JobMediaGone(RequestError):
    """A replay or verdict manifest asked of a job whose media is no longer kept."""

    status_code = 410
    code = "job_media_gone"
    summary = (
        "The job's media is no longer kept (the job expired, or GATEWAY_JOB_KEEP_MEDIA was off "
        "when it ended), so it cannot be scored again or bound to a verdict manifest"
    )


class IdempotencyMismatch(RequestError):
    """The Idempotency-Key was used before for a different request."""

    status_code = 422
    code = "idempotency_mismatch"
    summary = "Idempotency-Key reused with another upload or other parameters"


class CallbackRefused(RequestError):
    """The callback URL is not https on an allowed port, or resolves to a non-global address."""

    status_code = 422
    code = "callback_refused"
    summary = "callback_url not https on an allowed port, or not globally routable"


class WebhookSecretMissing(RequestError):
    status_code = 422
    code = "webhook_secret_missing"
    summary = "callback_url given before POST /v1/webhook-secret"


#: Codes a job's ``error`` may hold besides those above (never an HTTP status of a request).
JOB_CANCELED = "canceled"
WORKER_LOST = "worker_lost"
#: The job's media opens under none of the configured KEKs (a KEK rotated away, or altered).
MEDIA_UNDECRYPTABLE = "media_undecryptable"


class MediaFetchError(Exception):
    """A job's ``media_url`` could not be turned into media: the job fails with ``code``.

    Raised only inside a job (the fetch runs there), so these codes never answer a
    request: they are not :class:`GatewayError` statuses, only job ``error`` codes.
    """

    code = "media_unreachable"
    summary = "The media URL did not answer with its bytes"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MediaUnreachable(MediaFetchError):
    code = "media_unreachable"
    summary = "DNS failure, connection refused or reset, timeout, or a non-2xx answer"


class MediaTooLarge(MediaFetchError):
    code = "media_too_large"
    summary = "The media is over GATEWAY_MAX_UPLOAD_BYTES (by Content-Length or while streaming)"


class MediaNotAllowed(MediaFetchError):
    code = "media_not_allowed"
    summary = "Not an http(s) URL, a host resolving to a non-global address, or too many redirects"


class UnsupportedMedia(MediaFetchError):
    code = "unsupported_media"
    summary = "The fetched bytes are neither a JPEG, PNG or WebP image nor a video container"


#: Every code a job fetching its media may fail with, and what it means.
MEDIA_FETCH_CODES: dict[str, str] = {
    cls.code: cls.summary
    for cls in (MediaUnreachable, MediaTooLarge, MediaNotAllowed, UnsupportedMedia)
}


#: Errors any route behind the API key may answer with.
AUTH_ERRORS: tuple[type[GatewayError], ...] = (MissingApiKey, InvalidApiKey)
#: Errors any route may answer with, whichever it is.
ANY_ROUTE_ERRORS: tuple[type[GatewayError], ...] = (GatewayError, HeadersTooLarge)
#: Errors of any call to Serving.
UPSTREAM_ERRORS: tuple[type[GatewayError], ...] = (
    ModelNotFound,
    InferenceFailed,
    ServingUnavailable,
    ServingTimeout,
)
