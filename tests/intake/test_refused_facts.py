"""Subject facts PostgreSQL refuses (a version beyond bigint, which asyncpg cannot encode; an
ext_user_id too long for the primary key's index) are dead-lettered with our reason, and the
directory goes on with the facts behind them on their partition."""

from __future__ import annotations

import secrets
import uuid

from shared.domain import Channel
from shared.kafka import start_producer
from shared.topics import Topics
from tests.intake.conftest import IntakeClient, facts, wait_for_directory
from tests.support.kafka import distinct_dead_letters, read_topic


async def test_facts_the_database_refuses_are_dead_lettered_and_the_partition_goes_on(
    intake: IntakeClient, kafka_bootstrap: str, topics: Topics, events_dsn: str
) -> None:
    sentinel = f"sentinel-{uuid.uuid4().hex}"
    refused = [
        facts(f"huge-version-{uuid.uuid4().hex}", {Channel.SMS}, version=2**63),
        facts(secrets.token_hex(10_000), {Channel.SMS}),  # incompressible
    ]
    producer = await start_producer(kafka_bootstrap)
    try:
        for item in [*refused, facts(sentinel, {Channel.SMS})]:
            await producer.send_and_wait(
                topics.subject_facts, item.to_bytes(), key=item.ext_user_id.encode(), partition=0
            )
    finally:
        await producer.stop()
    await wait_for_directory(events_dsn, sentinel)
    dead = await read_topic(kafka_bootstrap, topics.dead_letter, expect=2)
    reasons = [
        b"refused by the database: DataError",
        b"refused by the database: ProgramLimitExceededError",
    ]
    assert distinct_dead_letters(dead) == [
        (item.to_bytes(), reason) for item, reason in zip(refused, reasons, strict=True)
    ]
