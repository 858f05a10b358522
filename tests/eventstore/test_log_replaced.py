"""The projector never skips silently: pointed at a log recreated under it (as after a
cluster migration or a restore), its stored positions lie beyond the new log's end, and it
halts with a clear error, a metric and failing readiness instead of counting every new
record as "already stored".  The documented rebuild then brings the new log in."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client import REGISTRY

from services.eventstore import queries
from services.eventstore.consumer import Projector
from services.eventstore.continuity import Continuity, HaltReason, ProjectorHalted
from shared.events import Event
from shared.kafka import ensure_topics, start_producer
from shared.topics import MESSAGE_EVENTS, Topics
from tests.eventstore.support import (
    count,
    lifecycle,
    migrated_pool,
    running_projector,
    wait_for_events,
    wait_for_position,
)
from tests.support.kafka import end_offsets
from tests.support.polling import eventually


async def recreate(bootstrap: str, topics: Topics) -> None:
    """Deletes the event log and creates it again, empty (deletion completes in the
    background on the broker: creation is retried until it is through)."""
    name = topics.message_events
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([name])

        async def gone() -> bool:
            return name not in await admin.list_topics()

        await eventually(gone, within=30, what="the deleted topic to disappear")
    finally:
        await admin.close()

    async def created() -> bool:
        try:
            await ensure_topics(bootstrap, topics, [MESSAGE_EVENTS])
            return set((await end_offsets(bootstrap, name)).values()) == {0}
        except KafkaError:
            return False

    await eventually(created, within=30, what="the topic recreated, empty")


async def into_partition_0(bootstrap: str, topic: str, events: list[Event]) -> None:
    producer = await start_producer(bootstrap)
    try:
        for event in events:
            await producer.send_and_wait(topic, event.to_bytes(), key=event.key, partition=0)
    finally:
        await producer.stop()


async def test_a_stored_position_beyond_the_log_end_halts_the_projector(
    kafka_bootstrap, topics, events_dsn
):
    # Partition 0 held 30 events; recreated, it holds the new message's 15.
    old = [e for uid in ("old-1", "old-2") for e in lifecycle(uid)]
    await into_partition_0(kafka_bootstrap, topics.message_events, old)
    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, len(old))
        await wait_for_position(pool, kafka_bootstrap, topics.message_events)

    await recreate(kafka_bootstrap, topics)
    new = lifecycle("after-the-migration")
    mid = new[0].ext_message_id
    await into_partition_0(kafka_bootstrap, topics.message_events, new)

    started: list[Projector] = []
    async with running_projector(
        kafka_bootstrap, topics, events_dsn, started=started
    ) as pool:
        continuity = started[0].continuity
        await eventually(lambda: continuity.halted is not None, within=30, what="the halt")
        halted = continuity.halted
        assert halted is not None and halted.topic == topics.message_events
        assert (halted.partition, halted.stored) == (0, 30)
        # Found at assignment (the log ends at 15); or, when a fetch from Kafka's reset
        # offset overtook the assignment, by the first record below 30 never stored.
        assert halted.reason in (HaltReason.POSITION_BEYOND_LOG_END, HaltReason.NEVER_STORED)
        with pytest.raises(ProjectorHalted, match="projector halted: .* replaced"):
            await continuity.readiness()
        assert REGISTRY.get_sample_value(
            "blindpost_projector_halted", {"reason": halted.reason.value}
        ) == 1
        consumer = started[0].consumer
        assert consumer.paused() == consumer.assignment() != set()
        assert await count(pool, "SELECT count(*) FROM events WHERE stream_id = $1", mid) == 0

    # The rebuild of docs/event-log.md: forget the positions in the replaced log, restart.
    conn = await asyncpg.connect(events_dsn)
    try:
        await conn.execute(
            "DELETE FROM projector_positions WHERE topic = $1", topics.message_events
        )
    finally:
        await conn.close()
    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, len(old) + len(new))
        async with pool.acquire() as conn:
            view = await queries.timeline(conn, mid)
        assert view is not None and len(view["events"]) == len(new)


async def test_an_event_below_the_stored_position_never_stored_halts_the_projector(
    topics, events_dsn
):
    """A log replaced while the projector ran: Kafka resets the consumer, and the records it
    reads lie below the stored position though the store never held them (a rebalance
    re-reads only records it stored: tests/eventstore/test_projector.py)."""
    event = lifecycle("replaced-while-running")[0]
    record = ConsumerRecord(
        topics.message_events, 0, 3, 0, 0, event.key, event.to_bytes(), None, 0, 0, []
    )
    pool = await migrated_pool(events_dsn)
    consumer = AIOKafkaConsumer()  # never started: only its (empty) assignment is paused
    try:
        continuity = Continuity(consumer)
        async with pool.acquire() as conn:
            stored = {(topics.message_events, 0): 30}
            assert not await continuity.holds(conn, [record], stored)
    finally:
        await pool.close()
    assert continuity.halted is not None
    assert continuity.halted.reason is HaltReason.NEVER_STORED
    assert (continuity.halted.stored, continuity.halted.found) == (30, 3)
