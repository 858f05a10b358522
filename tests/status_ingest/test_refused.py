"""A dispatch.succeeded event PostgreSQL refuses to store (a NUL in the provider's message
id: valid JSON and a valid str for pydantic, not a PostgreSQL text) is dead-lettered with
our reason, and the matcher goes on with the events behind it on its partition, and with
those of the other partitions handled in the same fetch."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from shared.domain import Channel, ext_message_id_for
from shared.events import Event
from tests.status_ingest.conftest import Ingest
from tests.support import events as build
from tests.support.kafka import distinct_dead_letters, partitions_of, publish, read_topic
from tests.support.polling import eventually

REFUSED = b"refused by the database: CharacterNotInRepertoireError"


def dispatched(provider_message_id: str) -> Event:
    mid = ext_message_id_for(Channel.SMS, uuid.uuid4().hex)
    return build.dispatched(
        mid, channel=Channel.SMS, provider="twilio", provider_message_id=provider_message_id
    )


async def test_an_event_the_database_refuses_is_dead_lettered_and_its_partition_goes_on(
    ingest: Ingest, kafka_bootstrap, topics, events_dsn
) -> None:
    sentinel_id = f"SM{uuid.uuid4().hex}"
    poison, sentinel = dispatched("SM\x00bad"), dispatched(sentinel_id)
    await publish(kafka_bootstrap, topics.message_events, [poison, sentinel], partition=0)
    assert await stored(events_dsn, {sentinel_id: sentinel.ext_message_id})
    dead = await read_topic(kafka_bootstrap, topics.dead_letter, expect=1)
    assert distinct_dead_letters(dead) == [(poison.to_bytes(), REFUSED)]


@pytest.fixture
async def poisoned_fetch(kafka_bootstrap, topics) -> tuple[Event, dict[str, uuid.UUID]]:
    """On the log before the matcher starts (requested before ``ingest``), so its first fetch
    spans every partition: a poison first on partition 0, events behind it there and on the
    other partitions.  Returns the poison and the others' provider ids and messages."""
    poison = dispatched("SM\x00bad")
    await publish(kafka_bootstrap, topics.message_events, [poison], partition=0)
    others: dict[str, uuid.UUID] = {}
    for partition in await partitions_of(kafka_bootstrap, topics.message_events):
        ids = [f"SM{uuid.uuid4().hex}" for _ in range(3)]
        events = [dispatched(pmid) for pmid in ids]
        await publish(kafka_bootstrap, topics.message_events, events, partition=partition)
        others |= {pmid: e.ext_message_id for pmid, e in zip(ids, events, strict=True)}
    return poison, others


async def test_a_refused_event_holds_back_no_other_partition_of_its_fetch(
    poisoned_fetch: tuple[Event, dict[str, uuid.UUID]],
    ingest: Ingest,
    kafka_bootstrap,
    topics,
    events_dsn,
) -> None:
    poison, others = poisoned_fetch
    assert await stored(events_dsn, others)
    dead = await read_topic(kafka_bootstrap, topics.dead_letter, expect=1)
    assert distinct_dead_letters(dead) == [(poison.to_bytes(), REFUSED)]


async def stored(events_dsn: str, expected: dict[str, uuid.UUID]) -> bool:
    """Waits until each provider id is matched to its message."""
    conn = await asyncpg.connect(events_dsn)
    try:

        async def matched() -> bool:
            rows = await conn.fetch(
                "SELECT provider_message_id, ext_message_id FROM provider_messages"
                " WHERE provider_message_id = ANY($1::text[])",
                list(expected),
            )
            return {r["provider_message_id"]: r["ext_message_id"] for r in rows} == expected

        return await eventually(matched, within=20, what="the events behind the poison stored")
    finally:
        await conn.close()
