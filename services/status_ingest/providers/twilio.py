"""Twilio status callbacks: form POST with ``MessageSid`` and ``MessageStatus``;
``X-Twilio-Signature`` is base64 HMAC-SHA1(auth token, full URL + each POST parameter name
and value, sorted by name).  The dispatcher's StatusCallback URL carries ``?bp_mid=<id>``.
Twilio signs no timestamp: the signature itself is remembered against replays."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl

from services.status_ingest.providers.base import (
    Inbound,
    InvalidSignature,
    StatusReport,
    Unusable,
    Verified,
    clean_id,
    digest_nonce,
    same,
)


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    data = url + "".join(name + value for name, value in sorted(params))
    mac = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


class Twilio:
    name = "twilio"

    def __init__(self, auth_token: str) -> None:
        self.auth_token = auth_token

    async def verify(self, inbound: Inbound) -> Verified:
        signature = inbound.headers.get("X-Twilio-Signature", "")
        if not signature:
            raise InvalidSignature("missing X-Twilio-Signature")
        params = parse_qsl(inbound.body.decode("utf-8", "replace"), keep_blank_values=True)
        expected = twilio_signature(self.auth_token, inbound.url, params)
        if not same(expected, signature):
            raise InvalidSignature("Twilio signature does not verify")
        return Verified(nonce=digest_nonce(self.name, signature), signed_at=None)

    def parse(self, inbound: Inbound) -> list[StatusReport]:
        form = inbound.form()
        status = form.get("MessageStatus") or form.get("SmsStatus")
        sid = clean_id(form.get("MessageSid") or form.get("SmsSid"))
        if not status or not sid:
            raise Unusable("Twilio callback without MessageSid/MessageStatus")
        code = form.get("ErrorCode")
        return [
            StatusReport(
                provider=self.name,
                provider_status=status,
                event_key=f"{sid}:{status}",
                ext_message_id=clean_id(inbound.query.get("bp_mid")),
                provider_message_id=sid,
                detail=f"twilio error {code}" if code and code.isdigit() else None,
            )
        ]
