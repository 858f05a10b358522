"""Item 1 of #16: a preview or a staff mail (``activity_type`` set, sent to the request's
``to_email_address``) carries none of the player's tokens.  Before, staff clicking
unsubscribe — or their mail client's one-click request — opted the player out, and staff opens
counted as the player's."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default as default_policy

from services.dispatch.email_main import create_email_app
from services.dispatch.settings import EmailSettings
from shared.domain import Channel
from tests.dispatch.support import (
    RecordingSmtpHandler,
    dispatch_until_settled,
    make_work,
    smtp_server,
)

PLAYER = "player-address-1@example-players.test"
STAFF = "risk-desk@example-operator.test"
HTML = '<html><body><a href="https://casino.example/offer">Offer</a></body></html>'


async def test_staff_and_preview_mails_have_no_tracking_and_no_unsubscribe(
    dispatch_env, topics, keypair, kafka_bootstrap
):
    handler = RecordingSmtpHandler()
    server, port = await smtp_server(handler)
    env = {**dispatch_env, "BLINDPOST_SMTP_PORT": str(port), "BLINDPOST_EMAIL_TRACKING": "true"}
    player = make_work(Channel.EMAIL, PLAYER, keypair[1], subject="Offer", body=HTML)
    staff = [
        make_work(Channel.EMAIL, STAFF, keypair[1], subject="Offer", body=HTML).model_copy(
            update={"activity_type": activity}
        )
        for activity in ("preview", "Unknown", "EmailCustomerSupport")
    ]
    try:
        await dispatch_until_settled(
            create_email_app(EmailSettings.from_env(env)),
            kafka_bootstrap,
            topics,
            [player, *staff],
        )
    finally:
        server.close()

    mails: dict[str, list[EmailMessage]] = {PLAYER: [], STAFF: []}
    for _sender, recipients, data in handler.received:
        mails[recipients[0]].append(email.message_from_bytes(data, policy=default_policy))
    assert len(mails[PLAYER]) == 1 and len(mails[STAFF]) == 3
    base = env["BLINDPOST_PUBLIC_BASE_URL"]

    (to_player,) = mails[PLAYER]
    assert to_player["List-Unsubscribe"]  # the player's own mail keeps all of it
    assert base + "/t/o/" in _html(to_player) and base + "/t/c/" in _html(to_player)

    for to_staff in mails[STAFF]:
        assert to_staff["List-Unsubscribe"] is None
        assert to_staff["List-Unsubscribe-Post"] is None
        assert base not in _html(to_staff)  # no pixel, no redirect: no token at all
        assert 'href="https://casino.example/offer"' in _html(to_staff)


def _html(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())
