"""SendGrid Event Webhook: a JSON array of events, signed with ECDSA P-256 (SHA-256) over
``timestamp + raw body``; signature (base64 DER) and timestamp in
``X-Twilio-Email-Event-Webhook-Signature`` / ``-Timestamp``.  Our ``custom_args`` come back
as top-level fields (``ext_message_id``); ``sg_message_id`` is SendGrid's id."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.status_ingest.providers.base import (
    Inbound,
    InvalidSignature,
    StatusReport,
    Unusable,
    Verified,
    clean_id,
    digest_nonce,
)

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


class SendGrid:
    name = "sendgrid"

    def __init__(self, public_key_b64: str) -> None:
        key = serialization.load_der_public_key(base64.b64decode(public_key_b64))
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("SendGrid verification key must be an EC public key")
        self.key = key

    async def verify(self, inbound: Inbound) -> Verified:
        signature = inbound.headers.get(SIGNATURE, "")
        timestamp = inbound.headers.get(TIMESTAMP, "")
        if not signature or not timestamp.isdigit():
            raise InvalidSignature("missing SendGrid signature headers")
        try:
            self.key.verify(
                base64.b64decode(signature, validate=True),
                timestamp.encode() + inbound.body,
                ec.ECDSA(hashes.SHA256()),
            )
        except (CryptoInvalidSignature, binascii.Error, ValueError):
            raise InvalidSignature("SendGrid signature does not verify") from None
        return Verified(nonce=digest_nonce(self.name, signature), signed_at=float(timestamp))

    def parse(self, inbound: Inbound) -> list[StatusReport]:
        try:
            events = json.loads(inbound.body)
        except ValueError:
            raise Unusable("SendGrid body is not JSON") from None
        if not isinstance(events, list):
            raise Unusable("SendGrid body is not an array")
        reports = []
        for item in events:
            if not isinstance(item, dict) or not isinstance(item.get("event"), str):
                continue
            event = item["event"]
            if event == "bounce" and isinstance(item.get("type"), str):
                event = f"bounce:{item['type']}"
            sg_message_id = clean_id(item.get("sg_message_id"))
            # sg_message_id is "<x-message-id>.filterdrecv-..."; the part before the first
            # dot is the X-Message-Id the send API answered with.
            provider_id = sg_message_id.split(".", 1)[0] if sg_message_id else None
            reports.append(
                StatusReport(
                    provider=self.name,
                    provider_status=event,
                    event_key=str(
                        item.get("sg_event_id") or digest_nonce(json.dumps(item, sort_keys=True))
                    ),
                    ext_message_id=clean_id(item.get("ext_message_id")),
                    provider_message_id=provider_id,
                    reported_at=_time(item.get("timestamp")),
                    detail=_detail(item),
                )
            )
        return reports


def _time(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def _detail(item: dict[str, object]) -> str | None:
    status = item.get("status")  # an SMTP enhanced status code such as 5.1.1
    if isinstance(status, str) and all(c.isdigit() or c == "." for c in status):
        return f"smtp {status}"
    return None
