"""SendGrid Event Webhook: a JSON array of events, signed with ECDSA P-256 (SHA-256) over
``timestamp + raw body``; signature (base64 DER) and timestamp in
``X-Twilio-Email-Event-Webhook-Signature`` / ``-Timestamp``.  Our ``custom_args`` come back
as top-level fields (``ext_message_id``); ``sg_message_id`` is SendGrid's id."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.status_ingest.providers import base

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


class SendGrid(base.Provider[dict[str, Any]]):
    name = "sendgrid"

    def __init__(self, public_key_b64: str) -> None:
        key = serialization.load_der_public_key(base64.b64decode(public_key_b64))
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("SendGrid verification key must be an EC public key")
        self.key = key

    async def signature(self, inbound: base.Inbound) -> base.Proof:
        signature = inbound.headers.get(SIGNATURE, "")
        timestamp = inbound.headers.get(TIMESTAMP, "")
        if not signature or not timestamp.isdigit():
            raise base.InvalidSignature("missing SendGrid signature headers")
        try:
            self.key.verify(
                base64.b64decode(signature, validate=True),
                timestamp.encode() + inbound.body,
                ec.ECDSA(hashes.SHA256()),
            )
        except (CryptoInvalidSignature, binascii.Error, ValueError):
            raise base.InvalidSignature("SendGrid signature does not verify") from None
        return base.Proof((timestamp, inbound.body), float(timestamp))

    def records(self, inbound: base.Inbound) -> list[dict[str, Any]]:
        events = base.json_body(inbound, "SendGrid")
        if not isinstance(events, list):
            raise base.Unusable("SendGrid body is not an array")
        return [e for e in events if isinstance(e, dict) and isinstance(e.get("event"), str)]

    def to_report(self, record: dict[str, Any]) -> base.StatusReport:
        event = record["event"]
        if event == "bounce" and isinstance(record.get("type"), str):
            event = f"bounce:{record['type']}"
        sg_message_id = base.clean_id(record.get("sg_message_id"))
        # sg_message_id is "<x-message-id>.filterdrecv-..."; the part before the first
        # dot is the X-Message-Id the send API answered with.
        provider_id = sg_message_id.split(".", 1)[0] if sg_message_id else None
        return self.report(
            event,
            str(record.get("sg_event_id") or base.digest_nonce(json.dumps(record, sort_keys=True))),
            ext_message_id=base.clean_id(record.get("ext_message_id")),
            provider_message_id=provider_id,
            reported_at=base.unix_time(record.get("timestamp")),
            detail=_detail(record),
        )


def _detail(item: dict[str, object]) -> str | None:
    status = item.get("status")  # an SMTP enhanced status code such as 5.1.1
    if isinstance(status, str) and all(c.isdigit() or c == "." for c in status):
        return f"smtp {status}"
    return None
