"""A dispatch.succeeded event PostgreSQL refuses to store (a NUL in the provider's message
id: valid JSON and a valid str for pydantic, not a PostgreSQL text) is dead-lettered with
our reason, and the matcher goes on with the events behind it on its partition."""

from __future__ import annotations

import uuid

import asyncpg

from shared.domain import Channel, ext_message_id_for
from tests.status_ingest.conftest import Ingest
from tests.support import events as build
from tests.support.kafka import distinct_dead_letters, publish, read_topic
from tests.support.polling import eventually


async def test_an_event_the_database_refuses_is_dead_lettered_and_its_partition_goes_on(
    ingest: Ingest, kafka_bootstrap, topics, events_dsn
) -> None:
    def dispatched(provider_message_id: str):
        mid = ext_message_id_for(Channel.SMS, uuid.uuid4().hex)
        return build.dispatched(
            mid, channel=Channel.SMS, provider="twilio", provider_message_id=provider_message_id
        )

    sentinel_id = f"SM{uuid.uuid4().hex}"
    poison, sentinel = dispatched("SM\x00bad"), dispatched(sentinel_id)
    await publish(kafka_bootstrap, topics.message_events, [poison, sentinel], partition=0)
    conn = await asyncpg.connect(events_dsn)
    try:

        async def sentinel_matched() -> object:
            return await conn.fetchval(
                "SELECT ext_message_id FROM provider_messages WHERE provider_message_id = $1",
                sentinel_id,
            )

        assert await eventually(sentinel_matched, within=20, what="the sentinel stored") == (
            sentinel.ext_message_id
        )
    finally:
        await conn.close()
    dead = await read_topic(kafka_bootstrap, topics.dead_letter, expect=1)
    assert distinct_dead_letters(dead) == [
        (poison.to_bytes(), b"refused by the database: CharacterNotInRepertoireError")
    ]
