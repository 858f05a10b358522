"""Our generic provider webhook (for SMS gateways and notification centres without a
scheme of their own), Stripe-style:

    POST /webhooks/generic
    X-Blindpost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
    {"ext_message_id": "...", "message_id": "<provider id>", "status": "delivered",
     "event_id": "...", "timestamp": 1700000000}

or a JSON array of such objects.  Several ``v1=`` are accepted during a secret rotation.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

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

HEADER = "X-Blindpost-Signature"


def generic_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    return f"t={timestamp},v1={hmac_hex(secret.encode(), str(timestamp).encode() + b'.' + body)}"


class Generic:
    name = "generic"

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = [s.encode() for s in secrets if s]

    async def verify(self, inbound: Inbound) -> Verified:
        fields: dict[str, list[str]] = {}
        for part in inbound.headers.get(HEADER, "").split(","):
            name, _, value = part.strip().partition("=")
            fields.setdefault(name, []).append(value)
        timestamp = (fields.get("t") or [""])[0]
        signatures = fields.get("v1") or []
        if not timestamp.isdigit() or not signatures:
            raise InvalidSignature(f"missing or malformed {HEADER}")
        signed = timestamp.encode() + b"." + inbound.body
        expected = [hmac_hex(secret, signed) for secret in self.secrets]
        if not any(same(e, s.lower()) for e in expected for s in signatures):
            raise InvalidSignature("generic webhook signature does not verify")
        return Verified(
            nonce=digest_nonce(self.name, timestamp, *signatures), signed_at=float(timestamp)
        )

    def parse(self, inbound: Inbound) -> list[StatusReport]:
        try:
            document = json.loads(inbound.body)
        except ValueError:
            raise Unusable("generic webhook body is not JSON") from None
        items = document if isinstance(document, list) else [document]
        reports = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("status"), str):
                raise Unusable("each generic status needs a string 'status'")
            ext_id = clean_id(item.get("ext_message_id"))
            provider_id = clean_id(item.get("message_id"))
            if not ext_id and not provider_id:
                raise Unusable("each generic status needs ext_message_id or message_id")
            reports.append(
                StatusReport(
                    provider=self.name,
                    provider_status=item["status"],
                    event_key=str(
                        item.get("event_id") or f"{ext_id or provider_id}:{item['status']}"
                    ),
                    ext_message_id=ext_id,
                    provider_message_id=provider_id,
                    reported_at=_time(item.get("timestamp")),
                )
            )
        return reports


def _time(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
