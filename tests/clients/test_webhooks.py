"""The SDK's webhook verifier agrees with the Standard Webhooks reference signer."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from deepfake_client import errors, webhooks
from standardwebhooks.webhooks import Webhook

SECRET = "whsec_" + base64.b64encode(b"a secret of thirty-two bytes!!!!").decode()
BODY = json.dumps({"type": "job.succeeded", "data": {"id": "job_1"}}).encode()


def _signed(body: bytes = BODY, at: float | None = None, msg_id: str = "msg_1") -> dict[str, str]:
    stamp = int(time.time() if at is None else at)
    signature = Webhook(SECRET).sign(msg_id, datetime.fromtimestamp(stamp, tz=UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_a_delivery_signed_by_the_reference_verifies() -> None:
    assert webhooks.verify(_signed(), BODY, SECRET) == json.loads(BODY)


def test_headers_are_matched_whatever_their_case() -> None:
    headers = {k.title(): v for k, v in _signed().items()}
    assert webhooks.verify(headers, BODY, SECRET)["type"] == "job.succeeded"


def test_our_signature_is_the_references() -> None:
    stamp = int(time.time())
    ours = webhooks.sign("msg_2", stamp, BODY, SECRET)
    headers = {"webhook-id": "msg_2", "webhook-timestamp": str(stamp), "webhook-signature": ours}
    assert Webhook(SECRET).verify(BODY, headers) == json.loads(BODY)


def test_one_of_several_signatures_suffices_during_rotation() -> None:
    headers = _signed()
    headers["webhook-signature"] = "v1,AAAA v1a,unchecked " + headers["webhook-signature"]
    assert webhooks.verify(headers, BODY, SECRET)


def test_an_unpadded_secret_works_as_the_reference_accepts_it() -> None:
    assert webhooks.verify(_signed(), BODY, SECRET.rstrip("="))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h, b: (h, b + b" "), "no matching signature"),
        (lambda h, b: ({**h, "webhook-id": "msg_other"}, b), "no matching signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), "missing header"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "not an integer"),
        (lambda h, b: ({**h, "webhook-signature": "v2,abc"}, b), "no matching signature"),
    ],
    ids=["body-altered", "id-altered", "id-missing", "timestamp-garbled", "other-scheme"],
)
def test_altered_deliveries_are_refused(change, message: str) -> None:
    headers, body = change(_signed(), BODY)
    with pytest.raises(errors.WebhookVerificationError, match=message):
        webhooks.verify(headers, body, SECRET)


def test_another_secret_does_not_verify() -> None:
    other = "whsec_" + base64.b64encode(b"another secret of 32 bytes!!!!!!").decode()
    with pytest.raises(errors.WebhookVerificationError):
        webhooks.verify(_signed(), BODY, other)


def test_the_timestamp_must_be_within_five_minutes() -> None:
    now = time.time()
    assert webhooks.verify(_signed(at=now - 290), BODY, SECRET)
    with pytest.raises(errors.WebhookVerificationError, match="too old"):
        webhooks.verify(_signed(at=now - 310), BODY, SECRET)
    with pytest.raises(errors.WebhookVerificationError, match="future"):
        webhooks.verify(_signed(at=now + 310), BODY, SECRET)
