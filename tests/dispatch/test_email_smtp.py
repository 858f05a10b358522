"""E-mail through SMTP to a real aiosmtpd server: headers, both bodies, tracking, events."""

from __future__ import annotations

import email
from email.policy import default as default_policy

from services.dispatch.email_main import create_email_app
from services.dispatch.settings import EmailSettings
from shared.domain import Channel
from shared.events import DispatchAttempted, DispatchSucceeded, EventType
from shared.tracking import TrackingTokens
from shared.verp import BounceAddresses
from tests.dispatch.support import (
    RecordingSmtpHandler,
    dispatch_until_settled,
    make_work,
    outcomes,
    smtp_server,
)
from tests.support.events import payload_of

ADDRESS = "zelda.quartermaine-7731@example-players.test"


async def test_mail_arrives_with_headers_both_bodies_and_tracking(
    dispatch_env, topics, keypair, kafka_bootstrap, tmp_path
):
    handler = RecordingSmtpHandler()
    server, port = await smtp_server(handler)
    env = {
        **dispatch_env,
        "BLINDPOST_SMTP_PORT": str(port),
        "BLINDPOST_MESSAGE_ID_DOMAIN": "mail.blindpost.test",
        "BLINDPOST_INSTANCE_ID": "blindpost-dispatch-email-7f9c-x2",  # the chart's pod name
    }
    work = make_work(
        Channel.EMAIL,
        ADDRESS,
        keypair[1],
        subject="The best offer",
        body='<html><body><p>Hi</p><a href="https://casino.example/offer?a=1&amp;b=2">Offer</a></body></html>',
        text_body="Get the offer: https://casino.example/offer",
        from_email_address="Amazing <noreply@amazing.example>",
        reply_to_email_address="Support <help@amazing.example>",
    )
    try:
        # Settled means Dispatched, which comes only after the server's 250.
        events = await dispatch_until_settled(
            create_email_app(EmailSettings.from_env(env)), kafka_bootstrap, topics, [work]
        )
    finally:
        server.close()

    mail_from, rcpt_tos, data = handler.received[0]
    # The envelope sender is the message's VERP address (bounces come back to it), naming
    # neither the player nor the address; without BLINDPOST_BOUNCE_* it is the From address
    # (tests/bounce/test_verp.py).
    verp = BounceAddresses.from_env(env).require()
    assert mail_from == verp.address(work.ext_message_id)
    assert verp.message_of(mail_from) == work.ext_message_id
    assert "zelda" not in mail_from and work.ext_user_id not in mail_from
    assert rcpt_tos == [ADDRESS]
    msg = email.message_from_bytes(data, policy=default_policy)
    mid = str(work.ext_message_id)
    assert msg["Message-ID"] == f"<{mid}@mail.blindpost.test>"
    assert msg["From"] == "Amazing <noreply@amazing.example>"
    assert msg["Reply-To"] == "Support <help@amazing.example>"
    assert msg["To"] == ADDRESS
    assert msg["Subject"] == "The best offer"
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    tokens = TrackingTokens(
        secret=env["BLINDPOST_TRACKING_SECRET"].encode(), base_url=env["BLINDPOST_PUBLIC_BASE_URL"]
    )
    unsubscribe = msg["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith(env["BLINDPOST_PUBLIC_BASE_URL"] + "/u/")
    claims = tokens.verify(unsubscribe.rsplit("/", 1)[1], "unsubscribe")
    assert claims["m"] == mid and claims["u"] == "player-42"

    plain, rich = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and rich is not None
    text, html = plain.get_content(), rich.get_content()
    assert text.strip() == "Get the offer: https://casino.example/offer"
    assert "<p>Hi</p>" in html
    assert "https://casino.example/offer" not in html  # the link goes through our redirect
    click = html.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert (
        tokens.verify(click.rsplit("/", 1)[1], "click")["url"]
        == "https://casino.example/offer?a=1&b=2"
    )
    pixel = html.split('<img src="', 1)[1].split('"', 1)[0]
    assert tokens.verify(pixel.rsplit("/", 1)[1], "open")["m"] == mid
    assert html.index("<img") < html.index("</body>")

    mine = outcomes(events)[work.ext_message_id]
    types = [e.type for e in mine]
    assert types == [EventType.DISPATCH_ATTEMPTED, EventType.DISPATCH_SUCCEEDED]
    # The use of the address, by the process that used it (the vault's audit has the read).
    assert payload_of(mine[0], DispatchAttempted).dispatcher == "blindpost-dispatch-email-7f9c-x2"
    dispatched = payload_of(mine[1], DispatchSucceeded)
    assert dispatched.provider == "smtp"
    assert dispatched.provider_message_id == f"{mid}@mail.blindpost.test"
    # For deliverability: the domain of the From address, never the address.
    assert dispatched.sending_domain == "amazing.example"
    for event in events:  # PII: the address is in no event
        assert ADDRESS not in event.model_dump_json()
