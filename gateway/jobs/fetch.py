"""Fetching a job's media URL: under the outbound address policy, within the upload limits.

The fetch runs inside the job, on a thread of its own (the worker's), and hands the body
straight to encryption (:meth:`~gateway.jobs.media.MediaStore.store_stream`): no plaintext
copy of a partial download is ever on disk.

Every hop is checked before anything connects: ``http`` or ``https`` only, no credentials
in the URL, and every address the host resolves to must be allowed by the same
:class:`~gateway.jobs.ssrf.CallbackPolicy` rule as webhooks (global addresses only;
loopback only with ``GATEWAY_WEBHOOK_ALLOW_LOOPBACK``). The request then goes to a checked
address itself (TLS SNI, certificate check and ``Host`` stay the name), so a second DNS
answer cannot point it inward. Redirects are followed by hand, at most
``max_redirects`` times, each one checked again.

While the body streams: ``Content-Length`` over the limit is refused before reading, the
byte count is checked at every chunk, a stall longer than ``idle_timeout_s`` or an average
rate under ``min_bytes_per_s`` after ``grace_s`` is cut, and the whole fetch has
``total_s``. Failures are :class:`~gateway.errors.MediaFetchError` codes.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

from ..errors import MediaNotAllowed, MediaTooLarge, MediaUnreachable
from .ssrf import AddressRefused, CallbackPolicy, HostUnresolved, resolve_checked_sync

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Long enough for signed object-store URLs; short enough to store with the job.
MAX_MEDIA_URL_LENGTH = 2048
_SCHEMES = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "deepfake-gateway-fetch/1"


@dataclass(frozen=True)
class FetchLimits:
    """How much, how slowly and how long a media URL may take (the upload's limits)."""

    max_bytes: int
    #: Longest wait to connect or for the next chunk.
    idle_timeout_s: float = 10.0
    #: Slowest average rate accepted once ``grace_s`` has passed (0: off).
    min_bytes_per_s: int = 16384
    grace_s: float = 5.0
    #: The whole fetch, every redirect included.
    total_s: float = 300.0
    max_redirects: int = 3


@dataclass(frozen=True)
class Target:
    """One checked hop: connect to ``addresses`` but speak to ``host``."""

    url: httpx.URL
    host: str
    port: int
    addresses: tuple[str, ...]


def check_media_url(url: str, policy: CallbackPolicy) -> Target:
    """The checked target of ``url``; :class:`MediaNotAllowed` for a refused form or
    address, :class:`MediaUnreachable` for a host that does not resolve."""
    if len(url) > MAX_MEDIA_URL_LENGTH:
        raise MediaNotAllowed(f"the media URL is longer than {MAX_MEDIA_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise MediaNotAllowed(f"the media URL is not a valid URL: {exc}") from exc
    if parsed.scheme not in _SCHEMES:
        raise MediaNotAllowed("the media URL must be http:// or https://")
    if not parsed.host:
        raise MediaNotAllowed("the media URL has no host")
    if parsed.userinfo:
        raise MediaNotAllowed("the media URL must not carry credentials")
    port = parsed.port or _SCHEMES[parsed.scheme]
    try:
        addresses = resolve_checked_sync(parsed.host, port, policy)
    except HostUnresolved as exc:
        raise MediaUnreachable(f"the media host {exc}") from exc
    except AddressRefused as exc:
        raise MediaNotAllowed(
            f"the media host {exc}; only globally routable addresses are fetched"
        ) from exc
    return Target(parsed, parsed.host, port, tuple(str(a) for a in addresses))


class _Body:
    """The response body as a file for :func:`~gateway.jobs.crypto.encrypt_file`, within
    the limits; what it raises stops the encryption, which then removes what it wrote."""

    def __init__(
        self,
        chunks: Iterator[bytes],
        limits: FetchLimits,
        deadline: float,
        stop: threading.Event | None,
    ) -> None:
        self.chunks, self.limits, self.deadline, self.stop = chunks, limits, deadline, stop
        self.started = time.monotonic()
        self.size = 0
        self.buffer = bytearray()
        self.done = False

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n and not self.done:
            self._pull()
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def _pull(self) -> None:
        try:
            chunk = next(self.chunks)
        except StopIteration:
            self.done = True
            return
        except httpx.TimeoutException as exc:
            raise MediaUnreachable(
                f"the media stalled: no data for {self.limits.idle_timeout_s:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise MediaUnreachable(f"the media download broke off: {type(exc).__name__}") from exc
        self.size += len(chunk)
        self.buffer += chunk
        now = time.monotonic()
        if self.stop is not None and self.stop.is_set():
            raise MediaUnreachable("the fetch was stopped")
        if self.size > self.limits.max_bytes:
            raise MediaTooLarge(f"the media is over {self.limits.max_bytes} bytes")
        if now > self.deadline:
            raise MediaUnreachable(f"the media took longer than {self.limits.total_s:g} s")
        elapsed = now - self.started
        if (
            self.limits.min_bytes_per_s
            and elapsed > self.limits.grace_s
            and self.size < self.limits.min_bytes_per_s * elapsed
        ):
            raise MediaUnreachable(
                f"the media arrived slower than {self.limits.min_bytes_per_s} bytes/s"
            )


def _send(client: httpx.Client, target: Target, timeout: httpx.Timeout) -> httpx.Response:
    """GET ``target`` at its checked addresses in turn; nothing is resolved again here."""
    default = _SCHEMES[target.url.scheme]
    host_header = target.host if target.port == default else f"{target.host}:{target.port}"
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    failure = "no address"
    for address in target.addresses:
        request = client.build_request(
            "GET",
            target.url.copy_with(host=address),
            headers={
                "Host": host_header,
                # Raw bytes only: the size limit is on what is stored, never inflated.
                "Accept-Encoding": "identity",
                "User-Agent": _USER_AGENT,
            },
            timeout=timeout,
            extensions=extensions,
        )
        try:
            return client.send(request, stream=True)
        except httpx.ConnectError as exc:
            failure = f"connection failed: {exc}"[:200]
        except httpx.TimeoutException as exc:
            raise MediaUnreachable(f"the media host did not answer in time: {exc}") from exc
        except httpx.HTTPError as exc:
            raise MediaUnreachable(f"the media request failed: {type(exc).__name__}") from exc
    raise MediaUnreachable(f"the media host cannot be reached ({failure})")


def fetch_media(
    url: str,
    sink: Callable[[_Body], T],
    *,
    policy: CallbackPolicy,
    limits: FetchLimits,
    ca_file: Path | None = None,
    stop: threading.Event | None = None,
) -> T:
    """GET ``url`` and hand its body to ``sink`` (which reads it like a file); its result.

    Blocking: run it on a thread. ``stop`` set from elsewhere ends the download at its next
    chunk. Raises :class:`~gateway.errors.MediaFetchError` subclasses.
    """
    tls = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    started = time.monotonic()
    deadline = started + limits.total_s
    with httpx.Client(verify=tls, follow_redirects=False, trust_env=False) as client:
        current = url
        for hop in range(limits.max_redirects + 1):
            target = check_media_url(current, policy)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MediaUnreachable(f"the media took longer than {limits.total_s:g} s")
            idle = min(limits.idle_timeout_s, remaining)
            response = _send(client, target, httpx.Timeout(idle, connect=idle))
            with contextlib.closing(response):
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    if hop == limits.max_redirects:
                        raise MediaNotAllowed(
                            f"the media URL redirected more than {limits.max_redirects} times"
                        )
                    # Relative to the name asked, not to the address connected to.
                    current = str(target.url.join(location))
                    continue
                if not 200 <= response.status_code < 300:
                    raise MediaUnreachable(f"the media URL answered {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limits.max_bytes:
                    raise MediaTooLarge(
                        f"the media is {declared} bytes, over the limit of {limits.max_bytes}"
                    )
                body = _Body(response.iter_raw(), limits, deadline, stop)
                result = sink(body)
                log.info(
                    "media fetched",
                    extra={
                        "host": target.host,
                        "bytes": body.size,
                        "redirects": hop,
                        "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    },
                )
                return result
    raise AssertionError("unreachable")  # the loop returns or raises
