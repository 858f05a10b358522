"""E-mail through SendGrid v3 and Mailgun, against local servers speaking their formats."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs

from aiohttp import web
from pydantic import SecretStr

from services.dispatch.email_main import create_email_app
from services.dispatch.email_message import EmailComposer
from services.dispatch.providers import Outbound
from services.dispatch.providers.mailgun import MailgunProvider
from services.dispatch.settings import EmailSettings
from shared.credentials import MailgunAccount
from shared.domain import Channel
from shared.events import DispatchSucceeded, EventType, MessageContent
from shared.tracking import TrackingTokens
from tests.dispatch.support import FakeProvider, Served, dispatch_until_settled, make_work, outcomes
from tests.support.events import payload_of

ADDRESS = "ulysses.penhaligon@example-players.test"


async def test_sendgrid_v3_mail_send(dispatch_env, topics, keypair, kafka_bootstrap):
    def answer(request: web.Request, raw: bytes, n: int) -> web.Response:
        if n == 1:
            return web.json_response({"errors": [{"message": "Internal error"}]}, status=500)
        return web.Response(status=202, headers={"X-Message-Id": "sg-abc123"})

    sendgrid = FakeProvider(answer)
    async with Served(sendgrid.app("/v3/mail/send")) as sg:
        env = {
            **dispatch_env,
            "BLINDPOST_EMAIL_PROVIDER": "sendgrid",
            "BLINDPOST_SENDGRID_API_KEY": "SG.test-key",
            "BLINDPOST_SENDGRID_BASE_URL": sg.url,
        }
        work = make_work(
            Channel.EMAIL,
            ADDRESS,
            keypair[1],
            subject="Hi",
            body="<p>Hello</p>",
            text_body="Hello",
            from_email_address="Amazing <noreply@amazing.example>",
            reply_to_email_address="help@amazing.example",
        )
        events = await dispatch_until_settled(
            create_email_app(EmailSettings.from_env(env)), kafka_bootstrap, topics, [work]
        )

    assert len(sendgrid.requests) == 2  # a 500, retried
    request, _raw = sendgrid.requests[-1]
    body = await request.json()
    assert request.headers["Authorization"] == "Bearer SG.test-key"
    assert body["personalizations"] == [
        {"to": [{"email": ADDRESS}], "custom_args": {"ext_message_id": str(work.ext_message_id)}}
    ]
    assert body["from"] == {"email": "noreply@amazing.example", "name": "Amazing"}
    assert body["reply_to"] == {"email": "help@amazing.example"}
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    final = outcomes(events)[work.ext_message_id][-1]
    assert (
        final.type == EventType.DISPATCH_SUCCEEDED
        and payload_of(final, DispatchSucceeded).provider_message_id == "sg-abc123"
    )
    assert all(ADDRESS not in e.model_dump_json() for e in events)


async def test_mailgun_messages_api():
    def answer(request: web.Request, raw: bytes, n: int) -> web.Response:
        return web.json_response({"id": "<20261127.1@mg.example>", "message": "Queued. Thank you."})

    mailgun = FakeProvider(answer)
    async with Served(mailgun.app("/v3/{domain}/messages")) as mg:
        provider = MailgunProvider(
            MailgunAccount(api_key=SecretStr("key-1"), domain="mg.example", base_url=mg.url),
            composer=EmailComposer(
                default_from="Blindpost <noreply@mg.example>",
                message_id_domain="mg.example",
                tokens=TrackingTokens(b"s", "http://127.0.0.1:8082"),
            ),
            concurrency=4,
        )
        mid = uuid.uuid4()
        try:
            sent = await provider.send(
                Outbound(
                    mid,
                    Channel.EMAIL,
                    "u1",
                    "uid",
                    ADDRESS,
                    MessageContent(subject="S", text_body="T", body="<p>H</p>"),
                    1,
                )
            )
        finally:
            await provider.close()
    request, raw = mailgun.requests[0]
    assert request.path == "/v3/mg.example/messages"
    assert request.headers["Authorization"].startswith("Basic ")
    form = parse_qs(raw.decode())
    assert form["to"] == [ADDRESS] and form["v:ext_message_id"] == [str(mid)]
    assert form["h:Message-Id"] == [f"<{mid}@mg.example>"]
    assert form["text"] == ["T"] and form["html"][0].startswith("<p>H</p>")
    assert sent.provider_message_id == "20261127.1@mg.example"
