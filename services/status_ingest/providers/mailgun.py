"""Mailgun webhooks: JSON ``{"signature": {"timestamp", "token", "signature"},
"event-data": {...}}``; ``signature`` is hex HMAC-SHA256(signing key, timestamp + token).
Our ``v:ext_message_id`` comes back as ``event-data.user-variables.ext_message_id``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from services.status_ingest.providers.base import (
    Inbound,
    InvalidSignature,
    StatusReport,
    Unusable,
    Verified,
    clean_id,
    digest_nonce,
    hmac_hex,
    same,
)


class Mailgun:
    name = "mailgun"

    def __init__(self, signing_key: str) -> None:
        self.key = signing_key.encode()

    def _signature(self, inbound: Inbound) -> dict[str, Any]:
        # The signature lives inside the body: read that one object, nothing else, first.
        try:
            block = json.loads(inbound.body).get("signature")
        except (ValueError, AttributeError):
            raise InvalidSignature("Mailgun body carries no signature") from None
        if not isinstance(block, dict):
            raise InvalidSignature("Mailgun body carries no signature")
        return block

    async def verify(self, inbound: Inbound) -> Verified:
        block = self._signature(inbound)
        timestamp, token, signature = (
            str(block.get(k, "")) for k in ("timestamp", "token", "signature")
        )
        if not timestamp.isdigit() or not token or not signature:
            raise InvalidSignature("Mailgun signature incomplete")
        if not same(hmac_hex(self.key, (timestamp + token).encode()), signature.lower()):
            raise InvalidSignature("Mailgun signature does not verify")
        return Verified(nonce=digest_nonce(self.name, token), signed_at=float(timestamp))

    def parse(self, inbound: Inbound) -> list[StatusReport]:
        data = json.loads(inbound.body).get("event-data")
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            raise Unusable("Mailgun event-data missing")
        event = data["event"]
        if event == "failed":
            event = f"failed:{data.get('severity') or 'permanent'}"
        variables = data.get("user-variables") or {}
        message = (data.get("message") or {}).get("headers") or {}
        delivery = data.get("delivery-status") or {}
        code = delivery.get("code") if isinstance(delivery, dict) else None
        return [
            StatusReport(
                provider=self.name,
                provider_status=event,
                event_key=str(data.get("id") or digest_nonce(inbound.body)),
                ext_message_id=clean_id(variables.get("ext_message_id"))
                if isinstance(variables, dict)
                else None,
                provider_message_id=clean_id(message.get("message-id"))
                if isinstance(message, dict)
                else None,
                reported_at=_time(data.get("timestamp")),
                detail=f"smtp {code}" if isinstance(code, int) else None,
            )
        ]


def _time(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
