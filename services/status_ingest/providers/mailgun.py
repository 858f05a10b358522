"""Mailgun webhooks: JSON ``{"signature": {"timestamp", "token", "signature"},
"event-data": {...}}``; ``signature`` is hex HMAC-SHA256(signing key, timestamp + token).
Our ``v:ext_message_id`` comes back as ``event-data.user-variables.ext_message_id``."""

from __future__ import annotations

from typing import Any

from services.status_ingest.providers import base


class Mailgun(base.Provider[dict[str, Any]]):
    name = "mailgun"

    def __init__(self, signing_key: str) -> None:
        self.key = signing_key.encode()

    async def signature(self, inbound: base.Inbound) -> base.Proof:
        # The signature lives inside the body: read that one object, nothing else, first.
        document = base.json_body(inbound, "Mailgun", base.InvalidSignature)
        block = document.get("signature") if isinstance(document, dict) else None
        if not isinstance(block, dict):
            raise base.InvalidSignature("Mailgun body carries no signature")
        timestamp, token, signature = (
            str(block.get(k, "")) for k in ("timestamp", "token", "signature")
        )
        if not timestamp.isdigit() or not token or not signature:
            raise base.InvalidSignature("Mailgun signature incomplete")
        if not base.same(base.hmac_hex(self.key, (timestamp + token).encode()), signature.lower()):
            raise base.InvalidSignature("Mailgun signature does not verify")
        return base.Proof((timestamp, token), float(timestamp))

    def records(self, inbound: base.Inbound) -> list[dict[str, Any]]:
        data = base.json_body(inbound, "Mailgun").get("event-data")
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            raise base.Unusable("Mailgun event-data missing")
        # One event per request: without Mailgun's id, the request itself identifies it.
        return [{**data, "id": data.get("id") or base.digest_nonce(inbound.body)}]

    def to_report(self, record: dict[str, Any]) -> base.StatusReport:
        event = record["event"]
        if event == "failed":
            event = f"failed:{record.get('severity') or 'permanent'}"
        variables = base.json_object(record.get("user-variables"))
        headers = base.json_object(base.json_object(record.get("message")).get("headers"))
        code = base.json_object(record.get("delivery-status")).get("code")
        return self.report(
            event,
            str(record["id"]),
            ext_message_id=base.clean_id(variables.get("ext_message_id")),
            provider_message_id=base.clean_id(headers.get("message-id")),
            reported_at=base.unix_time(record.get("timestamp")),
            detail=f"smtp {code}" if isinstance(code, int) else None,
        )
