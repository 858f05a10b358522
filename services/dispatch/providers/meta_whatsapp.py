"""WhatsApp through Meta's Cloud API.

``POST {base}/{version}/{phone_number_id}/messages`` with ``Authorization: Bearer <token>``
and JSON ``{"messaging_product": "whatsapp", "to": <digits>, "type": "text", "text": {"body"},
"biz_opaque_callback_data": <ext_message_id>}``; the answer holds ``messages[0].id`` (a
``wamid``).  ``from_number`` cannot be chosen per message (the sender is the phone number
id).  No idempotency key: after a crash an unknown outcome is not resent.  429 and 5xx are
transient.
"""

from __future__ import annotations

from services.dispatch.outcomes import Sent
from services.dispatch.providers import Outbound, Redelivery
from services.dispatch.providers.http import HttpProvider, json_answer
from services.dispatch.settings import PhoneSettings
from shared.credentials import MetaWhatsAppAccount
from shared.domain import Channel


class MetaWhatsAppProvider(HttpProvider):
    name = "meta"
    redelivery: Redelivery = "none"

    def __init__(self, account: MetaWhatsAppAccount, *, concurrency: int = 100) -> None:
        access_token, phone_number_id = account.require()
        super().__init__(concurrency)
        base_url = account.base_url.rstrip("/")
        self.url = f"{base_url}/{account.api_version}/{phone_number_id}/messages"
        self.headers = {"Authorization": f"Bearer {access_token}"}

    def payload(self, message: Outbound) -> dict[str, object]:
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.recipient.lstrip("+"),
            "type": "text",
            "text": {"preview_url": False, "body": message.content.body or ""},
            "biz_opaque_callback_data": str(message.ext_message_id),
        }

    async def send(self, message: Outbound) -> Sent:
        async with self.session.post(
            self.url, json=self.payload(message), headers=self.headers
        ) as response:
            body = await json_answer(response)
        messages = body.get("messages") or [{}]
        return Sent(messages[0].get("id"), None)


def build(settings: PhoneSettings, channel: Channel) -> MetaWhatsAppProvider:
    return MetaWhatsAppProvider(settings.meta, concurrency=settings.limits(channel).concurrency)
