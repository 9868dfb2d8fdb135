"""Content credentials: read and summarise the C2PA manifest store an upload carries.

The reading and validating is the C2PA reference implementation's (``c2pa-python``, the
official bindings of ``c2pa-rs``); this module only configures it and turns its report
into a :class:`~gateway.provenance_schemas.Provenance`:

- ``valid``: the validation state of the active manifest is ``Valid`` or ``Trusted``
  (claim signature, assertion hashes and the hash of the media all check out).
- ``trusted``: the signing certificate chains to a configured trust anchor
  (``signingCredential.trusted``); null when no anchors are configured, since then
  nothing was checked.
- ``ai_generated`` / ``ai_edited`` from the IPTC digital source types that the actions
  (and IPTC metadata assertions) of every manifest in the store declare; see
  :data:`GENERATED_TYPES` and :data:`EDITED_TYPES`.

An upload is untrusted input, and so is its manifest: the reader never fetches anything
(no remote manifests, no OCSP), caps the decompressed manifest size, validates only files
up to a size (validating holds about the file's size in memory; larger ones are read
without it), and runs on its own daemon thread within a time limit (a stuck read is
abandoned, never waited for) with a bounded number of reads at once. The file is handed
to c2pa as a stream from disk, never read into memory here. Whatever the manifest holds,
reading it gives a :class:`Provenance`, never an exception.

It is one module past 300 lines because configuring the read, summarising its report and
bounding it on a thread are one job with one result; much of the length is the
defensive walk over a report whose shape the uploader chooses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cryptography import x509

from ..provenance_schemas import Provenance

log = logging.getLogger(__name__)

#: The IPTC NewsCodes vocabulary of digital source types.
IPTC_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
#: Content created by an algorithm: by a model trained on sampled content, purely by an
#: algorithm, or a composite of such synthetic elements.
GENERATED_TYPES = frozenset({"trainedAlgorithmicMedia", "algorithmicMedia", "compositeSynthetic"})
#: Captured (or other) content combined with generative output, e.g. a generative fill.
#: ``algorithmicallyEnhanced`` (denoising, upscaling) is not counted as an edit.
EDITED_TYPES = frozenset({"compositeWithTrainedAlgorithmicMedia"})
#: The action that says how the content came to be; any other action is an edit.
CREATED_ACTION = "c2pa.created"
#: The code reported when the store cannot be read at all (the C2PA spec's catch-all).
GENERAL_ERROR = "general.error"

#: Decompressed manifest store size c2pa accepts (a real one is kilobytes; thumbnails more).
MAX_MANIFEST_MB = 16
#: Most entries of each list reported, and longest string: the manifest is the uploader's.
MAX_ITEMS = 32
MAX_TEXT = 200

_VALID_STATES = ("Valid", "Trusted")


def load_trust_anchors(path: Path) -> str:
    """The PEM bundle at ``path``; ``ValueError`` unless it holds at least one certificate."""
    pem = path.read_bytes()
    try:
        anchors = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ValueError(f"GATEWAY_C2PA_TRUST_ANCHORS: no PEM certificate in {path}") from exc
    log.info("content credentials trust anchors loaded", extra={"anchors": len(anchors)})
    return pem.decode("ascii")


def c2pa_settings(trust_anchors_pem: str | None, *, verify: bool = True) -> dict[str, Any]:
    """The c2pa settings a read runs with: nothing fetched, bounded, validated when
    ``verify``, and trust checked against ``trust_anchors_pem`` only when anchors are given."""
    settings: dict[str, Any] = {
        "verify": {
            "verify_after_reading": verify,
            "verify_trust": trust_anchors_pem is not None,
            "verify_timestamp_trust": trust_anchors_pem is not None,
            "remote_manifest_fetch": False,
            "ocsp_fetch": False,
        },
        "core": {"max_decompressed_manifest_size_in_mb": MAX_MANIFEST_MB},
    }
    if trust_anchors_pem is not None:
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
    return settings


def read_provenance(
    path: Path,
    media_type: str | None = None,
    *,
    trust_anchors_pem: str | None = None,
    max_verify_bytes: int | None = None,
) -> Provenance:
    """Read and validate the manifest store of the file at ``path`` (blocking).

    ``media_type`` is a hint (None: detected from the bytes; c2pa prefers the container it
    finds over a wrong hint). Validating was measured to hold about the file's size in
    memory (a 150 MB file: 150 MB more at the peak), so a file over ``max_verify_bytes`` is
    only read: what its manifest declares, with ``valid`` null. Never raises for what the
    file holds.
    """
    import c2pa  # a 20 MB native library: loaded with the first read, not with the gateway

    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed in the finally below)
    except OSError as exc:
        log.warning("content credentials not read", extra={"error": str(exc)})
        return Provenance(present=False, error="the upload could not be opened")
    size = os.fstat(stream.fileno()).st_size
    verify = max_verify_bytes is None or size <= max_verify_bytes
    checked_trust = verify and trust_anchors_pem is not None
    try:
        context = c2pa.Context.from_dict(c2pa_settings(trust_anchors_pem, verify=verify))
        with context:
            reader = c2pa.Reader.try_create(media_type, stream, None, context)
            if reader is None:
                return Provenance(present=False)
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError.NotSupported:
        return Provenance(
            present=False, error="content credentials are not read from this container format"
        )
    except c2pa.C2paError as exc:
        if not isinstance(exc, c2pa.C2paError.RemoteManifest) and not str(exc).startswith(
            "Remote:"  # what c2pa-rs 0.91 raises for a manifest only at a URL
        ):
            return _unreadable(exc, checked_trust)
        # Fetching it would let an upload make the gateway send requests: not checked.
        return Provenance(present=True, error=_text(f"remote manifest not fetched ({exc})"))
    except Exception as exc:  # a hostile store may break the reader anywhere
        return _unreadable(exc, checked_trust)
    finally:
        stream.close()
    try:
        if not verify:
            return summarise(store, checked_trust=False, verified=False).model_copy(
                update={"error": f"not validated: larger than {max_verify_bytes} bytes"}
            )
        return summarise(store, checked_trust=checked_trust)
    except Exception as exc:  # the report's shape is the manifest author's
        return _unreadable(exc, checked_trust)


def _unreadable(exc: Exception, checked_trust: bool) -> Provenance:
    """A store that is there but cannot be parsed or validated."""
    log.info("content credentials unreadable", extra={"error": _text(str(exc))})
    return Provenance(
        present=True,
        valid=False,
        trusted=False if checked_trust else None,
        validation_errors=[GENERAL_ERROR],
        error=_text(str(exc)) or type(exc).__name__,
    )


def summarise(store: dict[str, Any], *, checked_trust: bool, verified: bool = True) -> Provenance:
    """A :class:`Provenance` from c2pa's JSON report of a manifest store (``verified``:
    read with validation; without, validity and trust stay unknown)."""
    manifests = _dict(store.get("manifests"))
    active = _dict(manifests.get(store.get("active_manifest")))
    results = _dict(_dict(store.get("validation_results")).get("activeManifest"))
    state = store.get("validation_state")
    failures = _codes(store.get("validation_status")) + _codes(results.get("failure"))
    trusted = "signingCredential.trusted" in _codes(results.get("success"))
    signature = _dict(active.get("signature_info"))
    created: list[str] = []
    edited: list[str] = []
    for manifest in manifests.values():
        for action, source_type in _declared_source_types(_dict(manifest)):
            (created if action in (None, CREATED_ACTION) else edited).append(source_type)
    terms_created = {_iptc_term(t) for t in created}
    terms_edited = {_iptc_term(t) for t in edited}
    return Provenance(
        present=True,
        valid=(state in _VALID_STATES if isinstance(state, str) else False) if verified else None,
        trusted=trusted if checked_trust else None,
        signer=_text(signature.get("common_name") or signature.get("issuer")) or None,
        claim_generator=_claim_generator(active),
        signed_at=_text(signature.get("time")) or None,
        digital_source_types=_unique(created + edited),
        ai_generated=bool(terms_created & GENERATED_TYPES),
        ai_edited=bool((terms_created | terms_edited) & EDITED_TYPES)
        or bool(terms_edited & GENERATED_TYPES),
        validation_errors=_unique(failures) if verified else [],
    )


def _declared_source_types(manifest: dict[str, Any]) -> Iterator[tuple[str | None, str]]:
    """(action, source type) pairs a manifest declares; metadata declares no action."""
    for assertion in _list(manifest.get("assertions")):
        assertion = _dict(assertion)
        label = str(assertion.get("label", ""))
        data = _dict(assertion.get("data"))
        if label.startswith("c2pa.actions"):
            for action in _list(data.get("actions")):
                action = _dict(action)
                source_type = action.get("digitalSourceType")
                if isinstance(source_type, str):
                    yield str(action.get("action", "")), source_type
        elif label.startswith(("stds.iptc", "c2pa.metadata")):
            for key, value in data.items():
                if key.endswith("DigitalSourceType") and isinstance(value, str):
                    yield None, value


def _iptc_term(source_type: str) -> str:
    """The IPTC term of a source type URI (``https`` accepted too); '' for other vocabularies."""
    uri = source_type.strip()
    if uri.startswith("https://"):
        uri = "http://" + uri[len("https://") :]
    return uri[len(IPTC_SOURCE_TYPES) :] if uri.startswith(IPTC_SOURCE_TYPES) else ""


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    info = _list(manifest.get("claim_generator_info"))
    if info:
        first = _dict(info[0])
        name, version = first.get("name"), first.get("version")
        if name:
            return _text(f"{name}/{version}" if version else str(name))
    generator = manifest.get("claim_generator")  # claims of version 1
    return _text(str(generator)) if generator else None


def _codes(entries: object) -> list[str]:
    return [str(e["code"]) for e in _list(entries) if isinstance(e, dict) and "code" in e]


def _unique(items: Iterable[str]) -> list[str]:
    return [_text(i) for i in dict.fromkeys(items)][:MAX_ITEMS]


def _text(value: object) -> str:
    return str(value)[:MAX_TEXT] if value is not None else ""


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


class ProvenanceReader:
    """Reads uploads' content credentials off the event loop, within a time limit."""

    def __init__(
        self,
        *,
        trust_anchors: Path | None = None,
        timeout_s: float = 10.0,
        max_reads: int = 4,
        max_verify_bytes: int | None = None,
    ) -> None:
        """``trust_anchors``: PEM bundle (read now; a bad one fails here, at startup).
        ``max_reads``: reads at once; past it (reads stuck past their time limit) an upload
        is reported unread rather than queued. ``max_verify_bytes``: larger files are read
        but not validated (see :func:`read_provenance`)."""
        self.trust_anchors_pem = load_trust_anchors(trust_anchors) if trust_anchors else None
        self.timeout_s = timeout_s
        self.max_verify_bytes = max_verify_bytes
        self._slots = threading.BoundedSemaphore(max_reads)

    async def read(self, path: Path, media_type: str | None = None) -> tuple[Provenance, float]:
        """The content credentials of the file at ``path`` and the seconds it took."""
        start = time.perf_counter()
        if not self._slots.acquire(blocking=False):
            log.warning("content credentials not read: every reader is busy")
            return Provenance(present=False, error="not read: too many reads at once"), 0.0
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Provenance] = loop.create_future()

        def deliver(result: Provenance) -> None:
            if not done.done():
                done.set_result(result)

        def work() -> None:
            try:
                result = read_provenance(
                    path,
                    media_type,
                    trust_anchors_pem=self.trust_anchors_pem,
                    max_verify_bytes=self.max_verify_bytes,
                )
            except BaseException:  # read_provenance reports what it can; this is the rest
                log.exception("content credentials reader failed")
                result = Provenance(present=False, error="internal error while reading")
            finally:
                self._slots.release()
            # The loop may be gone when an abandoned read ends at last.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(deliver, result)

        # A daemon thread, not an executor's: a read stuck in native code is abandoned at
        # its time limit and must not hold up the process's exit.
        threading.Thread(target=work, name="c2pa-read", daemon=True).start()
        try:
            result = await asyncio.wait_for(done, self.timeout_s)
        except TimeoutError:
            log.warning("content credentials read timed out", extra={"timeout_s": self.timeout_s})
            result = Provenance(
                present=False,
                error=f"not read within the time limit ({self.timeout_s:g} s)",
            )
        return result, time.perf_counter() - start
