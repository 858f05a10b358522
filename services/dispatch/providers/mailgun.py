"""Mailgun Messages API: ``POST {base}/v3/{domain}/messages``, HTTP Basic ``api:<key>``,
form fields ``from``, ``to``, ``subject``, ``text``, ``html``, ``h:`` headers (our
``Message-Id`` and the unsubscribe headers) and ``v:ext_message_id`` (echoed in webhooks).
The answer is JSON with ``id``.  No idempotency key; a resend after a crash carries the same
``Message-Id`` (docs/dispatch.md).
"""

from __future__ import annotations

import aiohttp

from services.dispatch.email_message import EmailComposer
from services.dispatch.outcomes import Sent
from services.dispatch.providers import Outbound, Redelivery
from services.dispatch.providers.http import HttpProvider, json_answer
from services.dispatch.settings import EmailSettings
from shared.credentials import MailgunAccount
from shared.domain import Channel


class MailgunProvider(HttpProvider):
    name = "mailgun"
    redelivery: Redelivery = "message_id"

    def __init__(
        self, account: MailgunAccount, *, composer: EmailComposer, concurrency: int
    ) -> None:
        api_key, domain = account.require()
        super().__init__(concurrency)
        self.url = f"{account.base_url.rstrip('/')}/v3/{domain}/messages"
        self.auth = aiohttp.BasicAuth("api", api_key)
        self.composer = composer

    def form(self, message: Outbound) -> dict[str, str]:
        parts = self.composer.parts(message)
        form = {
            "from": parts.sender,
            "to": message.recipient,
            "subject": parts.subject,
            "h:Message-Id": parts.message_id,
            "v:ext_message_id": str(message.ext_message_id),
        }
        if parts.text is not None:
            form["text"] = parts.text
        if parts.html is not None:
            form["html"] = parts.html
        if parts.reply_to:
            form["h:Reply-To"] = parts.reply_to
        for name, value in parts.list_unsubscribe_headers().items():
            form[f"h:{name}"] = value
        return form

    async def send(self, message: Outbound) -> Sent:
        async with self.session.post(self.url, data=self.form(message), auth=self.auth) as response:
            body = await json_answer(response)
        message_id = body.get("id")
        return Sent(str(message_id).strip("<>") if message_id else None)


def build(settings: EmailSettings, channel: Channel) -> MailgunProvider:
    return MailgunProvider(
        settings.mailgun,
        composer=settings.composer(),
        concurrency=settings.limits(channel).concurrency,
    )
