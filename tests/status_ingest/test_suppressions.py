"""Provider reports that suppress a player: the table, row by row against the status
mapping, and a SendGrid spam report through a running status ingest that lands on the real
vault's suppression list (the vault finding the player from the message alone).  An SMS STOP
through each provider's inbound webhook suppresses the number's holder on SMS, in the vault
and then at intake."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from functools import partial
from urllib.parse import urlencode

import pytest

from services.bounce.outcomes import PROVIDER, PROVIDER_STATUSES, STATUSES
from services.status_ingest.mapping import smartico_status
from services.status_ingest.providers.twilio import twilio_signature
from services.status_ingest.suppression import SUPPRESSING
from shared.domain import Channel, SmarticoStatus
from tests.intake.conftest import IntakeClient, body_for, running_intake
from tests.status_ingest import payloads
from tests.status_ingest.conftest import Ingest
from tests.support.polling import eventually
from tests.support.ports import free_port
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


def vonage_sms(number: str, text: str, secret: str = payloads.VONAGE_SECRET) -> payloads.Signed:
    """As Vonage forwards it: a signed GET, the sender's number international without '+'."""
    message = payloads.vonage_inbound(number.removeprefix("+"), text)
    return payloads.vonage_signed_query(message, secret=secret)


def generic_sms(number: str, text: str, secret: str = payloads.GENERIC_SECRET) -> payloads.Signed:
    message = {"from": number, "to": "Casino", "body": text, "message_id": uuid.uuid4().hex}
    return payloads.generic({**message, "channel": "sms"}, secret=secret)


INBOUND_SMS: dict[str, Callable[..., payloads.Signed]] = {
    "vonage": vonage_sms,
    "generic": generic_sms,
}
# A fresh uid for every request: intake answers a repeated uid with its first answer.
UIDS = (f"stop-test-{n}" for n in itertools.count())


async def intake_answers(intake: IntakeClient, player: str, code: int) -> bool:
    answer = await intake.post("/v1/sms", body_for(Channel.SMS, player, next(UIDS)))
    return bool(answer["error_code"] == code)


@pytest.fixture
async def intake(base_env: dict[str, str], events_dsn: str) -> AsyncIterator[IntakeClient]:
    """Intake on this test's topics, where the vault publishes the players' facts."""
    port, uncached = str(free_port()), {"BLINDPOST_INTAKE_DIRECTORY_CACHE_TTL_S": "0"}
    # No content to seal here (the vault of this test is not intake's): as intake's own tests.
    unsealed = {"BLINDPOST_INTAKE_SEAL_CONTENT": "false"}
    env = {
        **base_env,
        "DATABASE_URL": events_dsn,
        "BLINDPOST_INTAKE_PORT": port,
        **uncached,
        **unsealed,
    }
    async with running_intake(env) as client:
        yield client


@pytest.mark.parametrize("provider", sorted(INBOUND_SMS))
async def test_a_stop_through_the_provider_s_inbound_webhook_makes_intake_answer_5(
    provider: str, ingest: Ingest, vault: VaultClient, intake: IntakeClient
) -> None:
    path, message = f"/webhooks/{provider}/inbound", INBOUND_SMS[provider]
    for player in (ANGRY, CALM):
        await eventually(
            partial(intake_answers, intake, player, 0), within=20, what=f"intake to know {player}"
        )
    forged = message(PHONES[ANGRY], "STOP", secret="not-the-provider-secret")
    assert (await ingest.send(path, forged))[0] == 401
    chat = message(PHONES[CALM], "stop sending me offers? no, keep them")
    assert (await ingest.send(path, chat))[0] == 200
    assert (await ingest.send(path, message(PHONES[ANGRY], " unsubscribe. ")))[0] == 200
    assert (await vault.resolve_one(ANGRY, "sms"))["status"] == "opted_out"
    assert (await vault.resolve_one(ANGRY, "email"))["status"] == "ok"
    assert (await vault.resolve_one(CALM, "sms"))["status"] == "ok"
    await eventually(
        partial(intake_answers, intake, ANGRY, 5), within=20, what="intake to answer 5"
    )
    assert await intake_answers(intake, CALM, 0)
    # A STOP from a number no player has is answered (no retry wanted) and dropped.
    assert (await ingest.send(path, message("+447700900999", "STOP")))[0] == 200

    status, trail = await vault.call("GET", f"/v1/audit?ext_user_id={ANGRY}", "auditor")
    assert status == 200
    assert ("suppression:stop", "sms " + provider) in {
        (entry["purpose"], entry["detail"]) for entry in trail["entries"]
    }
