"""Viber REST bot API callbacks: ``POST`` JSON ``{"event", "timestamp" (ms), "message_token",
"user_id", ...}`` signed with ``X-Viber-Content-Signature`` = hex HMAC-SHA256(the bot's auth
token, raw body).  ``delivered``, ``seen`` and ``failed`` name the message by the
``message_token`` that ``send_message`` answered, which the dispatcher stored as the provider
message id.  ``webhook`` is Viber checking the URL when it is set (answered, not recorded);
any other event (a player's reply, a subscription) becomes ``status.not_applied``.

``user_id`` is the player's Viber id and ``failed`` carries Viber's ``desc``: neither is read.
Viber retries a callback for an hour when it gets no 200, with its original timestamp.
"""

from __future__ import annotations

import json
import math
from typing import Any

from services.status_ingest.providers import base

HEADER = "X-Viber-Content-Signature"
VIBER_WINDOW_S = 2 * 3600.0  # Viber's hour of retries, and some clock skew
URL_CHECK = "webhook"


def viber_signature(auth_token: str, body: bytes) -> str:
    return base.hmac_hex(auth_token.encode(), body)


def _document(inbound: base.Inbound) -> object:
    try:
        return json.loads(inbound.body)
    except base.JSON_ERRORS:
        return None


def _token(value: object) -> str | None:
    """Viber's message tokens are 64-bit integers in the JSON; the dispatcher stored str(int)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    return None


def _millis(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value / 1000
    return None


class Viber(base.Provider[dict[str, Any]]):
    name = "viber"
    window_s = VIBER_WINDOW_S

    def __init__(self, auth_token: str) -> None:
        self.auth_token = auth_token

    async def signature(self, inbound: base.Inbound) -> base.Proof:
        signature = inbound.headers.get(HEADER, "")
        if not signature:
            raise base.InvalidSignature(f"missing {HEADER}")
        if not base.same(viber_signature(self.auth_token, inbound.body), signature):
            raise base.InvalidSignature("Viber signature does not verify")
        document = _document(inbound)
        signed_at = _millis(document.get("timestamp")) if isinstance(document, dict) else None
        return base.Proof((inbound.body,), signed_at)

    async def handshake(self, inbound: base.Inbound) -> base.Reply | None:
        document = _document(inbound)
        if isinstance(document, dict) and document.get("event") == URL_CHECK:
            return base.Reply("ok")
        return None

    def records(self, inbound: base.Inbound) -> list[dict[str, Any]]:
        document = base.json_body(inbound, "Viber")
        if not isinstance(document, dict) or not isinstance(document.get("event"), str):
            raise base.Unusable("a Viber callback is an object with a string 'event'")
        return [document]

    def to_report(self, record: dict[str, Any]) -> base.StatusReport:
        event = record["event"]
        at = _millis(record.get("timestamp"))
        reported_at = base.unix_time(at)
        token = _token(record.get("message_token"))
        if token is None:
            # Names no message of ours: recorded as not applied under its own key.
            return self.report(event, f"{event}:{at}", reported_at=reported_at)
        return self.message_status(token, event, reported_at=reported_at)
