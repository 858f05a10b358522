"""Twilio Programmable Messaging: SMS and WhatsApp.

``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded ``To``,
``From`` (or ``MessagingServiceSid``), ``Body``, ``StatusCallback``; HTTP Basic auth with the
account SID and auth token; the answer (201) is JSON with ``sid``.  WhatsApp numbers are
written ``whatsapp:+E164``.  Twilio has no idempotency key for sending: a call whose outcome
is unknown after a crash is not repeated.  Error 429 (and 5xx) are transient.
"""

from __future__ import annotations

from urllib.parse import quote

import aiohttp

from services.dispatch.outcomes import Sent
from services.dispatch.providers import Outbound, Redelivery
from services.dispatch.providers.http import HttpProvider, json_answer
from services.dispatch.segments import count_segments
from services.dispatch.settings import PhoneSettings
from shared.credentials import TwilioAccount
from shared.domain import Channel


class TwilioProvider(HttpProvider):
    name = "twilio"
    redelivery: Redelivery = "none"

    def __init__(
        self,
        account: TwilioAccount,
        *,
        public_base_url: str,
        default_from: str | None = None,
        concurrency: int = 100,
    ) -> None:
        account_sid, auth_token = account.require()
        super().__init__(concurrency)
        base_url = account.base_url.rstrip("/")
        self.url = f"{base_url}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = aiohttp.BasicAuth(account_sid, auth_token)
        self.public_base_url = public_base_url.rstrip("/")
        self.messaging_service_sid = account.messaging_service_sid
        self.default_from = default_from
        self.whatsapp_from = account.whatsapp_from

    def form(self, message: Outbound) -> dict[str, str]:
        body = message.content.body or ""
        form = {
            "Body": body,
            # The status ingest matches Twilio's callbacks to the message by bp_mid.
            "StatusCallback": (
                f"{self.public_base_url}/webhooks/twilio?bp_mid={quote(str(message.ext_message_id))}"
            ),
        }
        if message.channel is Channel.WHATSAPP:
            form["To"] = _whatsapp(message.recipient)
            sender = self.whatsapp_from or message.content.from_number or self.default_from
            if sender:
                form["From"] = _whatsapp(sender)
        else:
            form["To"] = message.recipient
            sender = message.content.from_number or self.default_from
            if sender:
                form["From"] = sender
        if "From" not in form and self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        return form

    async def send(self, message: Outbound) -> Sent:
        form = self.form(message)
        async with self.session.post(self.url, data=form, auth=self.auth) as response:
            body = await json_answer(response)
        sid = body.get("sid")
        _encoding, segments = count_segments(form["Body"])
        return Sent(str(sid) if sid else None, segments)


def _whatsapp(number: str) -> str:
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


def build(settings: PhoneSettings, channel: Channel) -> TwilioProvider:
    return TwilioProvider(
        settings.twilio,
        public_base_url=settings.public_base_url,
        default_from=settings.sms_default_from,
        concurrency=settings.limits(channel).concurrency,
    )
