"""Twilio status callbacks: form POST with ``MessageSid`` and ``MessageStatus``;
``X-Twilio-Signature`` is base64 HMAC-SHA1(auth token, full URL + each POST parameter name
and value, sorted by name).  The dispatcher's StatusCallback URL carries ``?bp_mid=<id>``.
Twilio signs no timestamp: the signed URL and parameters are remembered against replays.

Its "a message comes in" webhook is signed the same way: :class:`TwilioStops` reads a STOP
from it (Twilio's ``OptOutType=STOP`` of Advanced Opt-Out, or a body that is one of the
opt-out keywords), from an SMS number or a ``whatsapp:`` one.  Twilio signs no time, so a
replayed STOP can only repeat a suppression already recorded."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import ClassVar
from urllib.parse import parse_qsl

from services.status_ingest.providers import base
from services.status_ingest.providers.stops import Answer, Stop, is_stop_word
from shared.domain import Channel

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


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


class TwilioStops:
    """``POST /webhooks/twilio/inbound``: answered with empty TwiML (no reply is sent)."""

    name: ClassVar[str] = "twilio"
    answer: ClassVar[Answer] = Answer(EMPTY_TWIML, "text/xml")

    def __init__(self, twilio: Twilio) -> None:
        self.twilio = twilio

    async def read(self, inbound: base.Inbound) -> Stop | None:
        await self.twilio.signature(inbound)
        form = inbound.form()
        sender = form.get("From", "")
        number = sender.removeprefix("whatsapp:")
        opted_out = form.get("OptOutType", "").upper() == "STOP" or is_stop_word(form.get("Body"))
        if not opted_out or not number:
            return None
        return Stop(Channel.WHATSAPP if sender.startswith("whatsapp:") else Channel.SMS, number)
