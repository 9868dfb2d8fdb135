"""KEK rotation's second half: what a previous KEK wrapped or sealed, moved to the current one.

A gateway or worker started with ``GATEWAY_JOB_KEK_PREVIOUS`` reads everything the previous
KEKs protect (see :class:`~gateway.jobs.crypto.Keyring`); this pass, run at its start,
also wraps every stored data key and seals every webhook secret found under a previous
KEK again under the current one, so that the previous KEKs can be dropped later. Webhook
secrets never expire by themselves: without this, an API key that never asked for a new
secret would hold the old KEK in the settings forever.

Each row is replaced only if it still holds what was read (compare-and-set), so a secret
replaced meanwhile, or a job deleted meanwhile, is left as it is, and processes starting
together do the same work harmlessly. What opens under no configured KEK is left alone
and counted: its job fails with ``media_undecryptable`` when it runs, its key's webhooks
cannot be signed until the key asks for a new secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .crypto import Keyring, MediaDecryptionError
from .store import JobStore
from .webhooks import reseal_secret

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rewrapped:
    """What one pass found and did."""

    job_keys: int
    secrets: int
    unreadable: int


def rewrap_under_current(store: JobStore, keys: Keyring) -> Rewrapped:
    """Wrap or seal again under ``keys.current`` what a previous KEK of ``keys`` protects."""
    job_keys = secrets = unreadable = 0
    for job_id, wrapped in store.wrapped_keys():
        try:
            new = keys.rewrap(wrapped)
        except MediaDecryptionError:
            unreadable += 1
            continue
        if new is not None and store.replace_wrapped_key(job_id, wrapped, new):
            job_keys += 1
    for owner, sealed in store.sealed_secrets():
        try:
            resealed = reseal_secret(keys, owner, sealed)
        except MediaDecryptionError:
            unreadable += 1
            continue
        if resealed is not None and store.replace_secret(owner, sealed, resealed):
            secrets += 1
    done = Rewrapped(job_keys, secrets, unreadable)
    log.info(
        "re-wrapped under the current KEK",
        extra={"job_keys": job_keys, "webhook_secrets": secrets, "unreadable": unreadable},
    )
    return done
