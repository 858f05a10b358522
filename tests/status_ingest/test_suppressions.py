"""Provider reports that suppress a player: the table, row by row against the status
mapping, and a SendGrid spam report through a running status ingest that lands on the real
vault's suppression list (the vault finding the player from the message alone)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest

from services.bounce.outcomes import PROVIDER, PROVIDER_STATUSES, STATUSES
from services.status_ingest.mapping import smartico_status
from services.status_ingest.providers.twilio import twilio_signature
from services.status_ingest.suppression import SUPPRESSING
from shared.domain import Channel, SmarticoStatus
from tests.status_ingest import payloads
from tests.status_ingest.conftest import Ingest
from tests.support.polling import eventually
from tests.vault.support import VaultClient, running_vault

REASON_OF_STATUS = {
    SmarticoStatus.FAILED: "hard_bounce",
    SmarticoStatus.COMPLAINED: "complaint",
    SmarticoStatus.UNSUBSCRIBED: "unsubscribe",
}
ANGRY, CALM = "player-spam-1", "player-calm-1"
PHONES = {ANGRY: "+447911123456", CALM: "+447911123457"}


@pytest.mark.parametrize(("provider", "provider_status"), sorted(SUPPRESSING))
def test_every_row_suppresses_for_the_status_it_reports(provider: str, provider_status: str):
    channel, reason = SUPPRESSING[(provider, provider_status)]
    if provider == PROVIDER:
        kind = next(k for k, s in PROVIDER_STATUSES.items() if s == provider_status)
        status = STATUSES[kind]
    else:
        status = smartico_status(provider, provider_status)
    assert status is not None and REASON_OF_STATUS[status] == reason
    assert channel is Channel.EMAIL


@pytest.fixture
async def vault(base_env: dict[str, str], vault_dsn: str, topics) -> AsyncIterator[VaultClient]:
    async with running_vault({**base_env, "BLINDPOST_VAULT_DATABASE_URL": vault_dsn}) as client:
        for player in (ANGRY, CALM):
            contacts = {"email": f"{player}@example.org", "phone": PHONES[player]}
            assert (await client.put(player, contacts))[0] == 200
        yield client


@pytest.fixture
def ingest_extra_env(vault: VaultClient) -> dict[str, str]:
    return {"BLINDPOST_VAULT_URL": vault.base_url}


async def sent_to(vault: VaultClient, player: str) -> str:
    mid = str(uuid.uuid4())
    status, body = await vault.resolve(
        [{"ext_user_id": player, "channel": "email", "ext_message_id": mid}]
    )
    assert status == 200 and body["results"][0]["status"] == "ok"
    return mid


async def test_a_spam_report_puts_the_player_on_the_suppression_list(
    ingest: Ingest, vault: VaultClient
) -> None:
    angry, calm = await sent_to(vault, ANGRY), await sent_to(vault, CALM)
    delivered = payloads.sendgrid(payloads.sendgrid_events(calm, "sg-calm", ["delivered"]))
    assert (await ingest.send("/webhooks/sendgrid", delivered))[0] == 200
    spam = payloads.sendgrid(payloads.sendgrid_events(angry, "sg-angry", ["spamreport"]))
    assert (await ingest.send("/webhooks/sendgrid", spam))[0] == 200

    async def suppressed() -> bool:
        return (await vault.resolve_one(ANGRY, "email"))["status"] == "opted_out"

    await eventually(suppressed, within=30, what="the complaining player suppressed")
    assert (await vault.resolve_one(CALM, "email"))["status"] == "ok"
    assert (await vault.resolve_one(ANGRY, "sms"))["status"] == "ok"


def inbound_sms(ingest: Ingest, number: str, body: str, token: str = payloads.TWILIO_TOKEN):
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "SmsStatus": "received",
        "From": number,
        "To": "+15017122661",
        "Body": body,
        "AccountSid": "AC1234",
    }
    url = ingest.base_url + "/webhooks/twilio/inbound"
    signature = twilio_signature(token, url, list(params.items()))
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return payloads.Signed(headers, urlencode(params).encode())


async def test_an_sms_stop_suppresses_the_number_s_holder_on_sms(
    ingest: Ingest, vault: VaultClient
) -> None:
    forged = inbound_sms(ingest, PHONES[CALM], "STOP", token="not-the-account-token")
    assert (await ingest.send("/webhooks/twilio/inbound", forged))[0] == 401
    chat = inbound_sms(ingest, PHONES[CALM], "stop sending me offers? no, keep them")
    assert (await ingest.send("/webhooks/twilio/inbound", chat))[0] == 200
    stop = inbound_sms(ingest, PHONES[ANGRY], " Stop ")
    status, reply = await ingest.send("/webhooks/twilio/inbound", stop)
    assert status == 200 and "<Response>" in reply
    assert (await vault.resolve_one(ANGRY, "sms"))["status"] == "opted_out"
    assert (await vault.resolve_one(ANGRY, "email"))["status"] == "ok"
    assert (await vault.resolve_one(CALM, "sms"))["status"] == "ok"
    # A STOP from a number no player has is answered (Twilio must not retry it) and ignored.
    stranger = inbound_sms(ingest, "+447700900999", "STOP")
    assert (await ingest.send("/webhooks/twilio/inbound", stranger))[0] == 200
