"""The asynchronous client: :class:`AsyncClient`, on ``httpx.AsyncClient``.

It mirrors :mod:`deepfake_client._sync` call for call; everything but sending and sleeping
is in :mod:`deepfake_client._core`.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing

import httpx

from . import _core, _live
from . import jobs as _jobs
from ._core import Aggregation, ProgressCallback, RequestSpec, VideoInput
from ._retries import Attempts, RetryPolicy
from ._sse import SseEvent, SseParser
from .errors import WaitTimeout
from .live import AsyncLiveSession
from .live_models import LiveContainer, LiveInput
from .models import DetectionResponse, ModelsResponse, ReplayResponse
from .webhooks import Webhooks


class AsyncClient:
    """An asyncio client of the deepfake detection API (see :class:`~deepfake_client.Client`).

    ``base_url``, ``api_key`` and ``ca_cert`` default to ``DEEPFAKE_URL``,
    ``DEEPFAKE_API_KEY`` and ``DEEPFAKE_CA_CERT``. TLS certificates are always verified:
    against ``ca_cert`` (a PEM file) when given, else the system's trust store;
    ``verify=False`` turns that off with a warning. 429, 503 and connection failures are
    retried ``max_retries`` times with backoff, honouring ``Retry-After``.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        ca_cert: str | os.PathLike[str] | None = None,
        verify: bool | str | os.PathLike[str] | ssl.SSLContext = True,
        timeout: float | httpx.Timeout = _core.DEFAULT_TIMEOUT,
        max_retries: int = 3,
        backoff: float = 0.5,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        url, key, cafile = _core.settings_from_env(base_url, api_key, ca_cert)
        self.retry = RetryPolicy(max_retries=max_retries, backoff=backoff)
        tls = _core.ssl_context(verify, cafile)
        self._live = _live.Connection(url, key, tls, _core.USER_AGENT)
        self._http = httpx.AsyncClient(
            base_url=url,
            headers=_core.default_headers(key, headers),
            verify=tls,
            timeout=timeout,
            transport=transport,
        )
        self.models = AsyncModels(self)
        self.jobs = AsyncJobs(self)
        self.webhooks = Webhooks()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def _send(self, spec: RequestSpec) -> httpx.Response:
        """Send ``spec``, retrying as the policy says; the final answer, body read."""
        attempts = Attempts(spec, self.retry)
        while True:
            try:
                response = await self._http.send(_core.build_request(self._http, spec))
            except httpx.TransportError as exc:
                await asyncio.sleep(attempts.after_error(exc))
                continue
            wait = attempts.after_response(response)
            if wait is None:
                return response
            await asyncio.sleep(wait)

    async def detect(
        self,
        video: VideoInput,
        *,
        model_version: int | None = None,
        model_label: str | None = None,
        frames: int | None = None,
        fps: float | None = None,
        aggregation: Aggregation | None = None,
        explain: bool = False,
        operating_point: str | None = None,
        robustness: bool = False,
        progress: ProgressCallback | None = None,
    ) -> DetectionResponse:
        """Upload ``video`` (a path or a binary file object) and return the verdict; a JPEG,
        PNG or WebP still image is scored as one frame (see :meth:`detect_image`).

        A file object is read from its current position, and sought back there to retry.
        ``progress(sent, total)`` is called as the upload goes. ``explain=True`` adds to
        each face track its most suspicious faces with heatmaps (``track.explanations``);
        ``robustness=True`` scores re-encoded, half-size and mirrored copies of a video too
        (``result.robustness``: each copy's score and how far it moved).
        """
        params = _core.detect_params(
            model_version=model_version,
            model_label=model_label,
            frames=frames,
            fps=fps,
            aggregation=aggregation,
            explain=explain,
            operating_point=operating_point,
            robustness=robustness,
        )
        spec = _core.upload_spec("/v1/detect", video, params, progress)
        return _core.parse(await self._send(spec), DetectionResponse)

    async def detect_image(
        self,
        image: VideoInput,
        *,
        model_version: int | None = None,
        model_label: str | None = None,
        explain: bool = False,
        operating_point: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> DetectionResponse:
        """Upload a still image (JPEG, PNG or WebP; a path or a binary file object) and
        return the verdict on its one frame (``result.video.kind`` is ``"image"``).

        :meth:`detect` takes images too; this names the intent. The ``Content-Type`` is the
        image's, from its name or else its first bytes.
        """
        return await self.detect(
            image,
            model_version=model_version,
            model_label=model_label,
            explain=explain,
            operating_point=operating_point,
            progress=progress,
        )

    def live(
        self,
        *,
        input: LiveInput = "images",
        container: LiveContainer | None = None,
        model_version: int | None = None,
        model_label: str | None = None,
        window: float | None = None,
        operating_point: str | None = None,
    ) -> AsyncLiveSession:
        """A live session on ``/v1/live`` (``docs/live.md``); ``async with client.live() as s``
        opens it.

        ``input="images"`` takes JPEG, PNG or WebP frames (:meth:`~AsyncLiveSession.send_frame`),
        ``input="video"`` the chunks of one video stream (:meth:`~AsyncLiveSession.send_video`; name
        its ``container``). Frames are sent only against the gateway's credit; iterating
        the session yields rolling verdicts, ``end()`` returns the summary and its receipt.
        The client's TLS settings apply; the key goes in ``Sec-WebSocket-Protocol``.
        """
        options = _live.LiveOptions(
            input, container, model_version, model_label, window, operating_point
        )
        return AsyncLiveSession(self._live, options)


class AsyncModels:
    """``client.models``: the model versions the gateway serves."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self) -> ModelsResponse:
        """The model's versions, their states, labels and thresholds."""
        return _core.parse(
            await self._client._send(RequestSpec("GET", "/v1/models")), ModelsResponse
        )


class AsyncJobs:
    """``client.jobs``: asynchronous detections."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def submit_url(
        self,
        url: str,
        *,
        model_version: int | None = None,
        model_label: str | None = None,
        frames: int | None = None,
        fps: float | None = None,
        aggregation: Aggregation | None = None,
        explain: bool = False,
        operating_point: str | None = None,
        robustness: bool = False,
        callback_url: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> _jobs.Job:
        """A job whose media the gateway fetches from ``url`` (http or https); returns it
        ``queued``. The options are :meth:`create`'s.

        Nothing is uploaded: the fetch happens in the job, so a URL the gateway may not or
        cannot fetch ends the job ``failed`` with ``media_not_allowed``,
        ``media_unreachable``, ``media_too_large`` or ``unsupported_media``.
        """
        spec = _jobs.url_job_spec(
            url,
            callback_url=callback_url,
            metadata=metadata,
            idempotency_key=idempotency_key,
            options={
                "model_version": model_version,
                "model_label": model_label,
                "frames": frames,
                "fps": fps,
                "aggregation": aggregation,
                "explain": explain,
                "operating_point": operating_point,
                "robustness": robustness,
            },
        )
        return _jobs.parse_job(await self._client._send(spec))

    async def create(
        self,
        video: VideoInput,
        *,
        model_version: int | None = None,
        model_label: str | None = None,
        frames: int | None = None,
        fps: float | None = None,
        aggregation: Aggregation | None = None,
        explain: bool = False,
        operating_point: str | None = None,
        robustness: bool = False,
        callback_url: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> _jobs.Job:
        """Upload ``video`` as a job; returns it ``queued`` (or further along).

        ``callback_url`` receives a signed webhook when the job ends; ``metadata`` pairs are
        echoed in the job and its webhook.

        Every call carries an ``Idempotency-Key`` (a fresh one unless given), the same for
        its retries, so a retried upload never makes two jobs.
        """
        params = _core.detect_params(
            model_version=model_version,
            model_label=model_label,
            frames=frames,
            fps=fps,
            aggregation=aggregation,
            explain=explain,
            operating_point=operating_point,
            robustness=robustness,
        )
        if callback_url is not None:
            params["callback_url"] = callback_url
        for name, value in (metadata or {}).items():
            params[f"metadata.{name}"] = value
        key = idempotency_key or _core.new_idempotency_key()
        spec = _core.upload_spec(
            "/v1/jobs", video, params, progress, headers={"Idempotency-Key": key}
        )
        return _jobs.parse_job(await self._client._send(spec))

    async def get(self, job_id: str) -> _jobs.Job:
        """The job's current state (and its result once it has one)."""
        return _jobs.parse_job(await self._client._send(RequestSpec("GET", _jobs.job_path(job_id))))

    async def list(self, *, limit: int | None = None, cursor: str | None = None) -> _jobs.JobList:
        """One page of this API key's jobs, newest first (see :meth:`iter` for all)."""
        spec = RequestSpec("GET", "/v1/jobs", params=_jobs.list_params(limit, cursor))
        return _jobs.parse_job_list(await self._client._send(spec))

    async def iter(self, *, limit: int | None = None) -> AsyncIterator[_jobs.Job]:
        """Every job of this API key, newest first, following the pages' cursors."""
        cursor = None
        while True:
            page = await self.list(limit=limit, cursor=cursor)
            for job in page.jobs:
                yield job
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def cancel(self, job_id: str) -> _jobs.Job:
        """Ask the gateway to cancel the job; returns it as it then stands."""
        path = _jobs.job_path(job_id, "cancel")
        return _jobs.parse_job(await self._client._send(RequestSpec("POST", path)))

    async def replay(self, job_id: str, model_version: int) -> ReplayResponse:
        """Score a succeeded job's stored media again with ``model_version``: both answers
        and their difference per track and on the timeline (the job itself is unchanged).

        The gateway keeps a job's media for this only with ``GATEWAY_JOB_KEEP_MEDIA``, until
        the job expires; otherwise :class:`~deepfake_client.errors.ApiError` ``job_media_gone``.
        """
        spec = RequestSpec(
            "POST", _jobs.job_path(job_id, "replay"), params={"model_version": model_version}
        )
        return _core.parse(await self._client._send(spec), ReplayResponse)

    async def manifest(self, job_id: str) -> bytes:
        """A succeeded job's verdict as a C2PA manifest store signed by the gateway: the bytes
        of a ``.c2pa`` sidecar of the job's media (read it with ``c2pa.Reader(media_type,
        media, manifest_data=...)``).

        Only from a gateway with ``GATEWAY_C2PA_SIGN_CERT`` (else ``manifest_unavailable``)
        that still keeps the job's media (else ``job_media_gone``).
        """
        response = await self._client._send(RequestSpec("GET", _jobs.job_path(job_id, "manifest")))
        _core.check(response)
        return response.content

    async def delete(self, job_id: str) -> None:
        """Delete the job and its result."""
        path = _jobs.job_path(job_id)
        _core.check(await self._client._send(RequestSpec("DELETE", path)))

    async def events(self, job_id: str) -> AsyncGenerator[SseEvent, None]:
        """The job's Server-Sent Events, as they come, until the gateway ends the stream."""
        path = _jobs.job_path(job_id, "events")
        timeout = httpx.Timeout(None, connect=10.0)
        request = self._client._http.build_request(
            "GET", path, headers={"Accept": "text/event-stream"}, timeout=timeout
        )
        response = await self._client._http.send(request, stream=True)
        try:
            if response.is_error:
                await response.aread()
                _core.check(response)
            parser = SseParser()
            async for line in response.aiter_lines():
                event = parser.feed(line)
                if event is not None:
                    yield event
        finally:
            await response.aclose()

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        events: bool = False,
        raise_on_failure: bool = True,
    ) -> _jobs.Job:
        """Wait until the job is final and return it.

        Polls ``GET /v1/jobs/{id}`` as often as its ``Retry-After`` says, or with
        ``events=True`` follows its event stream. A job that ends other than ``succeeded``
        raises :class:`~deepfake_client.errors.JobFailed` unless ``raise_on_failure`` is
        false; not final within ``timeout`` seconds raises
        :class:`~deepfake_client.errors.WaitTimeout`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if events:
            # Closed on leaving, so that breaking out ends the stream's connection now.
            async with aclosing(self.events(job_id)) as stream:
                async for event in stream:
                    if _jobs.ends_stream(event):
                        break
                    if deadline is not None and time.monotonic() > deadline:
                        raise WaitTimeout(f"job {job_id} not final after {timeout} s")
        while True:
            job = await self.get(job_id)
            if job.done:
                return _jobs.finished(job, raise_on_failure)
            delay = _jobs.poll_delay(job)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(f"job {job_id} still {job.state} after {timeout} s")
                delay = min(delay, left)
            await asyncio.sleep(delay)
