"""SendGrid v3 Mail Send: ``POST {base}/v3/mail/send`` with ``Authorization: Bearer``.

The ``ext_message_id`` travels in ``custom_args`` (echoed in every Event Webhook event);
the answer is 202 with the ``X-Message-Id`` header.  No idempotency key: after a crash an unknown
outcome is not resent.
"""

from __future__ import annotations

from email.utils import parseaddr

from services.dispatch.email_message import EmailComposer
from services.dispatch.outcomes import Sent, http_failure
from services.dispatch.providers import Outbound, Redelivery
from services.dispatch.providers.http import HttpProvider
from services.dispatch.settings import EmailSettings
from shared.credentials import SendGridAccount
from shared.domain import Channel


def _address(value: str) -> dict[str, str]:
    name, address = parseaddr(value)
    return {"email": address, "name": name} if name else {"email": address}


class SendGridProvider(HttpProvider):
    name = "sendgrid"
    redelivery: Redelivery = "none"

    def __init__(
        self, account: SendGridAccount, *, composer: EmailComposer, concurrency: int
    ) -> None:
        (api_key,) = account.require()
        super().__init__(concurrency)
        self.url = f"{account.base_url.rstrip('/')}/v3/mail/send"
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.composer = composer

    def payload(self, message: Outbound) -> dict[str, object]:
        parts = self.composer.parts(message)
        content = []
        if parts.text is not None:
            content.append({"type": "text/plain", "value": parts.text})
        if parts.html is not None:
            content.append({"type": "text/html", "value": parts.html})
        payload: dict[str, object] = {
            "personalizations": [
                {
                    "to": [{"email": message.recipient}],
                    "custom_args": {"ext_message_id": str(message.ext_message_id)},
                }
            ],
            "from": _address(parts.sender),
            "subject": parts.subject,
            "content": content or [{"type": "text/plain", "value": " "}],
            "headers": parts.list_unsubscribe_headers(),
        }
        if parts.reply_to:
            payload["reply_to"] = _address(parts.reply_to)
        return payload

    async def send(self, message: Outbound) -> Sent:
        async with self.session.post(
            self.url, json=self.payload(message), headers=self.headers
        ) as response:
            await response.read()
            if response.status >= 300:
                raise http_failure(response.status)
            return Sent(response.headers.get("X-Message-Id"))


def build(settings: EmailSettings, channel: Channel) -> SendGridProvider:
    return SendGridProvider(
        settings.sendgrid,
        composer=settings.composer(),
        concurrency=settings.limits(channel).concurrency,
    )
