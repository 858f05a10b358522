"""Vonage (Nexmo) SMS API.

``POST {base}/sms/json`` with ``api_key``, ``api_secret``, ``from``, ``to`` (digits, no
``+``), ``text``, ``type`` (``unicode`` when the text is not GSM-7) and ``client-ref`` (our
``ext_message_id``, echoed in delivery receipts).  HTTP 200 even for refusals: each part is
in ``messages[]`` with ``status`` "0" for success and ``message-id``.  Statuses 1
(throttled) and 5 (internal error) are transient; the rest permanent.  No idempotency key.
"""

from __future__ import annotations

from services.dispatch.outcomes import PermanentFailure, Sent, TransientFailure
from services.dispatch.providers import Outbound, Redelivery
from services.dispatch.providers.http import HttpProvider, json_answer
from services.dispatch.segments import count_segments
from services.dispatch.settings import PhoneSettings
from shared.credentials import VonageAccount
from shared.domain import Channel

TRANSIENT_STATUSES = {"1", "5"}


class VonageProvider(HttpProvider):
    name = "vonage"
    redelivery: Redelivery = "none"

    def __init__(
        self, account: VonageAccount, *, default_from: str | None = None, concurrency: int = 100
    ) -> None:
        self.api_key, self.api_secret = account.require()
        super().__init__(concurrency)
        self.url = f"{account.base_url.rstrip('/')}/sms/json"
        self.default_from = default_from or "Blindpost"

    def form(self, message: Outbound) -> dict[str, str]:
        text = message.content.body or ""
        encoding, _ = count_segments(text)
        return {
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "from": (message.content.from_number or self.default_from).lstrip("+"),
            "to": message.recipient.lstrip("+"),
            "text": text,
            "type": "unicode" if encoding == "ucs2" else "text",
            "client-ref": str(message.ext_message_id),
        }

    async def send(self, message: Outbound) -> Sent:
        form = self.form(message)
        async with self.session.post(self.url, data=form) as response:
            body = await json_answer(response)
        parts = body.get("messages") or []
        if not parts:
            raise PermanentFailure("vonage_empty_answer")
        for part in parts:
            status = str(part.get("status", ""))
            if status != "0":
                failure = TransientFailure if status in TRANSIENT_STATUSES else PermanentFailure
                raise failure(f"vonage_status_{status or 'missing'}")
        _encoding, segments = count_segments(form["text"])
        return Sent(parts[0].get("message-id"), segments)


def build(settings: PhoneSettings, channel: Channel) -> VonageProvider:
    return VonageProvider(
        settings.vonage,
        default_from=settings.sms_default_from,
        concurrency=settings.limits(channel).concurrency,
    )
