"""Our generic provider webhook (for SMS gateways and notification centres without a
scheme of their own), Stripe-style:

    POST /webhooks/generic
    X-Blindpost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
    {"ext_message_id": "...", "message_id": "<provider id>", "status": "delivered",
     "event_id": "...", "timestamp": 1700000000}

or a JSON array of such objects.  Several ``v1=`` are accepted during a secret rotation.

Replies from players (:class:`GenericStops`), signed the same way:

    POST /webhooks/generic/inbound
    {"from": "+447700900123", "to": "<our number or sender id>", "body": "STOP",
     "channel": "sms" | "viber" | "whatsapp" (default "sms"), "message_id": "...",
     "timestamp": 1700000000}
"""

from __future__ import annotations

from typing import ClassVar

from services.status_ingest.providers import base
from services.status_ingest.providers.stops import Answer, Stop, check_window, is_stop_word
from shared.domain import Channel

HEADER = "X-Blindpost-Signature"
# The channels our generic provider carries, where a reply comes from a phone number.
INBOUND_CHANNELS = {c.value: c for c in (Channel.SMS, Channel.VIBER, Channel.WHATSAPP)}


def generic_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    return (
        f"t={timestamp},v1={base.hmac_hex(secret.encode(), str(timestamp).encode() + b'.' + body)}"
    )


class Generic(base.Provider[object]):
    name = "generic"

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = [s.encode() for s in secrets if s]

    async def signature(self, inbound: base.Inbound) -> base.Proof:
        fields: dict[str, list[str]] = {}
        for part in inbound.headers.get(HEADER, "").split(","):
            name, _, value = part.strip().partition("=")
            fields.setdefault(name, []).append(value)
        timestamp = (fields.get("t") or [""])[0]
        signatures = fields.get("v1") or []
        if not timestamp.isdigit() or not signatures:
            raise base.InvalidSignature(f"missing or malformed {HEADER}")
        signed = timestamp.encode() + b"." + inbound.body
        expected = [base.hmac_hex(secret, signed) for secret in self.secrets]
        if not any(base.same(e, s) for e in expected for s in signatures):
            raise base.InvalidSignature("generic webhook signature does not verify")
        # Appending junk ``v1=`` values must not make a replay look new: the nonce is the signed
        # bytes, whichever of the presented signatures verified.
        return base.Proof((signed,), float(timestamp))

    def records(self, inbound: base.Inbound) -> list[object]:
        document = base.json_body(inbound, "generic webhook")
        return document if isinstance(document, list) else [document]

    def to_report(self, record: object) -> base.StatusReport:
        if not isinstance(record, dict) or not isinstance(record.get("status"), str):
            raise base.Unusable("each generic status needs a string 'status'")
        ext_id = base.clean_id(record.get("ext_message_id"))
        provider_id = base.clean_id(record.get("message_id"))
        if not ext_id and not provider_id:
            raise base.Unusable("each generic status needs ext_message_id or message_id")
        status = record["status"]
        return self.report(
            status,
            str(record.get("event_id") or f"{ext_id or provider_id}:{status}"),
            ext_message_id=ext_id,
            provider_message_id=provider_id,
            reported_at=base.unix_time(record.get("timestamp")),
        )


class GenericStops:
    name: ClassVar[str] = "generic"
    answer: ClassVar[Answer] = Answer()

    def __init__(self, generic: Generic, window_s: float) -> None:
        self.generic = generic
        self.window_s = window_s

    async def read(self, inbound: base.Inbound) -> Stop | None:
        proof = await self.generic.signature(inbound)
        check_window(proof.signed_at, self.window_s)
        message = base.json_body(inbound, "generic inbound message")
        if not isinstance(message, dict) or not isinstance(message.get("from"), str):
            raise base.Unusable("a generic inbound message is an object with a string 'from'")
        channel = INBOUND_CHANNELS.get(str(message.get("channel", "sms")))
        if channel is None:
            raise base.Unusable("a generic inbound message's channel is sms, viber or whatsapp")
        number = message["from"].strip()
        return Stop(channel, number) if number and is_stop_word(message.get("body")) else None
