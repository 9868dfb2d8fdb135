"""When a call is tried again: the retry policy and the decisions of one call's attempts.

Shared by the sync and async send loops, which only sleep for as long as :class:`Attempts`
says.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import httpx

from ._core import RequestSpec, retry_after, transport_error

log = logging.getLogger("deepfake_client")


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of 429, 503 and connection failures, with exponential backoff and jitter.

    A ``Retry-After`` from the gateway is honoured as the least wait; one longer than
    ``max_delay`` is not waited for (the error is raised, with its ``retry_after``, for the
    caller to decide). Without it the wait is ``backoff * 2**attempt`` with full jitter.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` (from 0); ``None``: do not retry."""
        if retry_after is not None:
            if retry_after > self.max_delay:
                return None
            # A little jitter on top, so that clients told the same second spread out.
            return retry_after + random.uniform(0, self.backoff / 2)
        return random.uniform(0, min(self.max_delay, self.backoff * (2**attempt)))


def should_retry(response: httpx.Response) -> bool:
    """429s and 503s are worth another attempt; other errors will not change."""
    return response.status_code in (429, 503)


#: Failures where the request surely or probably never reached the route: retried.
RETRYABLE_TRANSPORT_ERRORS = (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


class Attempts:
    """The retry decisions of one call, shared by the sync and async send loops.

    After each attempt the loop asks :meth:`after_response` or :meth:`after_error` how
    long to sleep before the next one; ``None`` means the answer is final.
    """

    def __init__(self, spec: RequestSpec, policy: RetryPolicy) -> None:
        self.spec = spec
        self.policy = policy
        self.attempt = 0

    def _next(self, retry_after_s: float | None, why: str) -> float | None:
        wait = self.policy.delay(self.attempt, retry_after_s)
        if wait is None:
            return None
        self.attempt += 1
        log.info(
            "retrying %s %s in %.2f s (attempt %d): %s",
            self.spec.method,
            self.spec.path,
            wait,
            self.attempt + 1,
            why,
        )
        return wait

    def after_response(self, response: httpx.Response) -> float | None:
        """Seconds to wait before retrying ``response``; ``None``: return it."""
        if not (should_retry(response) and self.spec.retryable):
            return None
        if self.attempt >= self.policy.max_retries:
            return None
        return self._next(retry_after(response), f"HTTP {response.status_code}")

    def after_error(self, exc: httpx.TransportError) -> float:
        """Seconds to wait before retrying after ``exc``; raises when it is final."""
        retryable = isinstance(exc, RETRYABLE_TRANSPORT_ERRORS) and self.spec.retryable
        wait = None
        if retryable and self.attempt < self.policy.max_retries:
            wait = self._next(None, f"{type(exc).__name__}: {exc}")
        if wait is None:
            raise transport_error(exc) from exc
        return wait
