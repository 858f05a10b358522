"""Twilio status callbacks: form POST with ``MessageSid`` and ``MessageStatus``;
``X-Twilio-Signature`` is base64 HMAC-SHA1(auth token, full URL + each POST parameter name
and value, sorted by name).  The dispatcher's StatusCallback URL carries ``?bp_mid=<id>``.
Twilio signs no timestamp: the signed URL and parameters are remembered against replays."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl

from services.status_ingest.providers import base


def signed_text(url: str, params: list[tuple[str, str]]) -> str:
    return url + "".join(name + value for name, value in sorted(params))


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    mac = hmac.new(auth_token.encode(), signed_text(url, params).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


class Twilio(base.Provider[tuple[dict[str, str], str | None]]):
    """A record is the callback's form and the ``bp_mid`` of the URL it was sent to."""

    name = "twilio"

    def __init__(self, auth_token: str) -> None:
        self.auth_token = auth_token

    async def signature(self, inbound: base.Inbound) -> base.Proof:
        signature = inbound.headers.get("X-Twilio-Signature", "")
        if not signature:
            raise base.InvalidSignature("missing X-Twilio-Signature")
        params = parse_qsl(inbound.body.decode("utf-8", "replace"), keep_blank_values=True)
        expected = twilio_signature(self.auth_token, inbound.url, params)
        if not base.same(expected, signature):
            raise base.InvalidSignature("Twilio signature does not verify")
        return base.Proof((signed_text(inbound.url, params),), None)

    def records(self, inbound: base.Inbound) -> list[tuple[dict[str, str], str | None]]:
        return [(inbound.form(), inbound.query.get("bp_mid"))]

    def to_report(self, record: tuple[dict[str, str], str | None]) -> base.StatusReport:
        form, bp_mid = record
        status = form.get("MessageStatus") or form.get("SmsStatus")
        sid = base.clean_id(form.get("MessageSid") or form.get("SmsSid"))
        if not status or not sid:
            raise base.Unusable("Twilio callback without MessageSid/MessageStatus")
        code = form.get("ErrorCode")
        return self.message_status(
            sid,
            status,
            ext_message_id=base.clean_id(bp_mid),
            detail=f"twilio error {code}" if code and code.isdigit() else None,
        )
