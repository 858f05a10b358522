"""The generic HTTP JSON provider (``BLINDPOST_SMS_HTTP_URL``), used for SMS and Viber.

Request: ``POST`` JSON ``{"to", "from", "body", "channel", "ext_message_id"}`` with
``Idempotency-Key: <ext_message_id>`` (and ``Authorization: Bearer`` when a token is set).
Answer: 2xx JSON with ``message_id`` (or ``id``).  A provider honouring the key answers a
repeated request with the first result instead of sending again, which is what lets a
dispatcher that died mid-call resend safely.
"""

from __future__ import annotations

from services.dispatch.outcomes import Sent
from services.dispatch.providers import Outbound, Redelivery
from services.dispatch.providers.http import HttpProvider, json_answer
from services.dispatch.segments import count_segments
from services.dispatch.settings import PhoneSettings
from shared.domain import Channel


class GenericHttpProvider(HttpProvider):
    name = "generic"
    redelivery: Redelivery = "idempotency_key"

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        default_from: str | None = None,
        concurrency: int = 100,
    ) -> None:
        super().__init__(concurrency)
        self.url = url
        self.token = token
        self.default_from = default_from

    async def send(self, message: Outbound) -> Sent:
        payload = {
            "to": message.recipient,
            "from": message.content.from_number or self.default_from,
            "body": message.content.body or "",
            "channel": message.channel.value,
            "ext_message_id": str(message.ext_message_id),
        }
        headers = {"Idempotency-Key": str(message.ext_message_id)}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        async with self.session.post(self.url, json=payload, headers=headers) as response:
            body = await json_answer(response)
        message_id = body.get("message_id") or body.get("id")
        _encoding, segments = count_segments(message.content.body or "")
        return Sent(str(message_id) if message_id else None, segments)


def build(settings: PhoneSettings, channel: Channel) -> GenericHttpProvider:
    return GenericHttpProvider(
        settings.http_url(channel),
        token=settings.secret("sms_http_token") if settings.sms_http_token else None,
        default_from=settings.sms_default_from,
        concurrency=settings.limits(channel).concurrency,
    )
