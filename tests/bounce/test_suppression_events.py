"""Every change of the suppression list is an event on the log (issue 15), with no address
and no number: a hard bounce and a provider's unsubscribe on the stream of the message that
caused them, a complaint named by player and an SMS STOP on the suppression's own stream, an
operator's removal beside what it removed; and ``blindpost messages show`` of the bounced
message shows them.  The real vault (in process), its database, the broker, the projector
and the operator's commands."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from services.eventstore import queries
from services.vault.cli import operator_caller
from shared.domain import Channel, ext_message_id_for
from shared.events import (
    Event,
    EventType,
    SuppressionRecorded,
    SuppressionRemoved,
    suppression_id_for,
)
from shared.topics import Topics
from tests.eventstore.support import produce, running_projector, wait_for_events
from tests.support import events as build
from tests.support.kafka import read_topic
from tests.support.processes import run_cli
from tests.vault.support import VaultClient, running_vault

BOUNCED, LEAVER, ANGRY = "sup-event-bounced", "sup-event-leaver", "sup-event-angry"
EMAIL = {p: f"{p}.needle-4417@players.example" for p in (BOUNCED, LEAVER, ANGRY)}
PHONE = "+447911123999"


@pytest.fixture
async def vault(base_env: dict[str, str], vault_dsn: str, topics) -> AsyncIterator[VaultClient]:
    async with running_vault({**base_env, "BLINDPOST_VAULT_DATABASE_URL": vault_dsn}) as client:
        for player, email in EMAIL.items():
            contacts = {"email": email, **({"phone": PHONE} if player == BOUNCED else {})}
            assert (await client.put(player, contacts))[0] == 200
        yield client


async def sent_to(vault: VaultClient, player: str) -> uuid.UUID:
    """A message accepted for the player whose address the vault gave out (a real send)."""
    mid = ext_message_id_for(Channel.EMAIL, f"uid-{player}")
    status, body = await vault.resolve(
        [{"ext_user_id": player, "channel": "email", "ext_message_id": str(mid)}]
    )
    assert status == 200 and body["results"][0]["status"] == "ok", body
    return mid


async def suppress(vault: VaultClient, **body: object) -> int:
    """As status ingest asks it (its feed and its inbound webhook)."""
    status, _ = await vault.call("POST", "/v1/suppressions", "unsubscribe", json=body)
    return status


async def events_on_the_log(kafka_bootstrap: str, topics: Topics, expect: int) -> list[Event]:
    records = await read_topic(kafka_bootstrap, topics.message_events, expect=expect)
    return [Event.from_bytes(r.value) for r in records]


async def test_each_suppression_and_its_removal_is_an_event_on_the_right_stream(
    vault: VaultClient, kafka_bootstrap: str, topics: Topics, events_dsn: str
) -> None:
    bounced, unsubscribed = await sent_to(vault, BOUNCED), await sent_to(vault, LEAVER)
    # A hard bounce (the bounce receiver's, through status ingest's feed), retried once.
    bounce = {"ext_message_id": str(bounced), "channel": "email", "source": "bounce"}
    assert await suppress(vault, **bounce, reason="hard_bounce", detail="5.1") == 200
    assert await suppress(vault, **bounce, reason="hard_bounce", detail="5.1") == 200
    # A later complaint about the same message: the player is already suppressed, so the
    # list does not change, and neither does the log.
    assert await suppress(vault, **bounce, reason="complaint") == 200
    # A provider's unsubscribe for another message; a complaint naming the player only.
    assert (
        await suppress(
            vault,
            ext_message_id=str(unsubscribed),
            channel="email",
            reason="unsubscribe",
            source="sendgrid",
        )
        == 200
    )
    assert (
        await suppress(vault, ext_user_id=ANGRY, channel="email", reason="complaint", source="ses")
        == 200
    )
    # An SMS STOP names a number: its holder, on a stream of the suppression's own.
    assert await suppress(vault, phone=PHONE, channel="sms", reason="stop", source="twilio") == 200
    # The operator takes the bounced player off both lists again.
    for channel in ("email", "sms"):
        removed = run_cli(
            vault.env, "suppressions", "remove", BOUNCED, "--channel", channel, "--reason", "fixed"
        )
        assert removed.returncode == 0, removed.stderr[-2000:]

    events = await events_on_the_log(kafka_bootstrap, topics, expect=7)
    raw = b"".join(e.to_bytes() for e in events)
    assert b"needle-4417" not in raw and b"7911123999" not in raw and b"fixed" not in raw
    recorded = {
        (e.ext_message_id, p.ext_user_id, p.channel, p.reason, p.source, p.caused_by): e.event_id
        for e in events
        if isinstance(p := e.payload, SuppressionRecorded)
    }
    stop_stream = suppression_id_for(BOUNCED, Channel.SMS)
    angry_stream = suppression_id_for(ANGRY, Channel.EMAIL)
    assert set(recorded) == {
        (bounced, BOUNCED, Channel.EMAIL, "hard_bounce", "bounce", bounced),
        (unsubscribed, LEAVER, Channel.EMAIL, "unsubscribe", "sendgrid", unsubscribed),
        (angry_stream, ANGRY, Channel.EMAIL, "complaint", "ses", None),
        (stop_stream, BOUNCED, Channel.SMS, "stop", "twilio", None),
    }
    # The retried bounce was published again as the same event: stored once.
    bounce_events = [e for e in events if e.ext_message_id == bounced]
    assert [e.type for e in bounce_events] == [
        EventType.SUPPRESSION_RECORDED,
        EventType.SUPPRESSION_RECORDED,
        EventType.SUPPRESSION_REMOVED,
    ]
    assert bounce_events[0].event_id == bounce_events[1].event_id
    removals = {
        (e.ext_message_id, p.channel, p.reason, p.removed_by, p.caused_by)
        for e in events
        if isinstance(p := e.payload, SuppressionRemoved)
    }
    operator = operator_caller()
    assert removals == {
        (bounced, Channel.EMAIL, "hard_bounce", operator, bounced),
        (stop_stream, Channel.SMS, "stop", operator, None),
    }

    # What an operator sees: the bounced message's timeline shows its suppression and the
    # removal; the STOP's own stream says where that suppression stands.
    accepted = build.accepted(f"uid-{BOUNCED}", ext_user_id=BOUNCED)
    assert accepted.ext_message_id == bounced
    await produce(kafka_bootstrap, topics.message_events, [accepted])
    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, len({e.event_id for e in events}) + 1)
        async with pool.acquire() as conn:
            stop = await queries.timeline(conn, stop_stream)
    assert stop is not None and stop["message"]["stage"] == "suppression_removed"
    assert stop["message"]["status"] is None  # never counted among messages
    shown = run_cli({**vault.env, "DATABASE_URL": events_dsn}, "messages", "show", str(bounced))
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "suppression.recorded" in shown.stdout and "reason=hard_bounce" in shown.stdout
    assert "suppression.removed" in shown.stdout and f"removed_by={operator}" in shown.stdout
    assert "needle-4417" not in shown.stdout + shown.stderr


async def test_erasing_a_suppressed_player_logs_each_removal_as_erased(
    vault: VaultClient, kafka_bootstrap: str, topics: Topics
) -> None:
    assert (
        await suppress(vault, ext_user_id=ANGRY, channel="email", reason="complaint", source="ses")
        == 200
    )
    assert await suppress(vault, phone=PHONE, channel="sms", reason="stop", source="twilio") == 200
    status, _ = await vault.erase(BOUNCED)
    assert status == 200
    status, _ = await vault.erase(ANGRY)
    assert status == 200

    events = await events_on_the_log(kafka_bootstrap, topics, expect=4)
    raw = b"".join(e.to_bytes() for e in events)
    assert b"needle-4417" not in raw and b"7911123999" not in raw
    removals = {
        (e.ext_message_id, p.ext_user_id, p.channel, p.reason, p.removed_by, p.cause)
        for e in events
        if isinstance(p := e.payload, SuppressionRemoved)
    }
    assert removals == {
        (
            suppression_id_for(ANGRY, Channel.EMAIL),
            ANGRY,
            Channel.EMAIL,
            "complaint",
            "admin",
            "erased",
        ),
        (suppression_id_for(BOUNCED, Channel.SMS), BOUNCED, Channel.SMS, "stop", "admin", "erased"),
    }
