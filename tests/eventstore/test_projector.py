"""The projector against the real broker and database: every event stored once, whatever
Kafka redelivers; positions from the store, not from Kafka; poison records dead-lettered."""

from __future__ import annotations

import json
import secrets

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.eventstore.consumer import DUPLICATES
from services.eventstore.topic_reader import partitions_of
from services.eventstore.verify import verify
from tests.eventstore.support import (
    count,
    lifecycle,
    produce,
    produce_facts,
    produce_raw,
    running_projector,
    vault_read,
    wait_for_events,
    wait_for_position,
)
from tests.support.kafka import read_topic
from tests.support.polling import eventually


async def test_redelivered_and_re_emitted_events_are_stored_once(
    kafka_bootstrap, topics, events_dsn
):
    messages = [lifecycle(channel_uid) for channel_uid in ("a1", "a2", "a3")]
    events = [e for m in messages for e in m]
    facts = [vault_read(m[0]) for m in messages]
    # A stage that redid its work re-emits the same events (same ids), some in a later batch.
    await produce(kafka_bootstrap, topics.message_events, events + events[:7])
    await produce_facts(kafka_bootstrap, topics, facts + facts[:1])

    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, len(events))
        await produce(kafka_bootstrap, topics.message_events, events[5:12])
        await wait_for_position(pool, kafka_bootstrap, topics.message_events)
        assert await count(pool, "SELECT count(*) FROM events") == len(events)
        assert await count(pool, "SELECT count(DISTINCT event_id) FROM events") == len(events)
        assert await count(pool, "SELECT count(*) FROM vault_audit_facts") == len(facts)
        # Versions are gap-free per stream and the chains hold.
        async with pool.acquire() as conn:
            streams, rows, problems = await verify(conn)
        assert (streams, rows, problems) == (3, len(events), [])
        assert await count(pool, "SELECT sum(messages) FROM message_counts") == 3


async def test_a_rewound_kafka_offset_does_not_store_anything_twice(
    kafka_bootstrap, topics, events_dsn
):
    """Kafka's committed offsets are only a hint: rewind them to zero and restart, and the
    projector still starts where the event store says it stopped."""
    first = [e for uid in ("b1", "b2") for e in lifecycle(uid)]
    await produce(kafka_bootstrap, topics.message_events, first)
    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, len(first))

    await _rewind_group_to_zero(
        kafka_bootstrap, topics.group("projector"), topics.message_events
    )
    second = lifecycle("b3")
    await produce(kafka_bootstrap, topics.message_events, second)
    duplicates_before = DUPLICATES._value.get()
    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, len(first) + len(second))
        await wait_for_position(pool, kafka_bootstrap, topics.message_events)
        assert await count(pool, "SELECT count(*) FROM events") == len(first) + len(second)
    # Not even read again: it sought to the stored positions, not to Kafka's offset 0.
    assert DUPLICATES._value.get() == duplicates_before


async def _rewind_group_to_zero(bootstrap: str, group: str, topic: str) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await partitions_of(consumer, topic)]
        consumer.assign(partitions)
        await consumer.commit({tp: 0 for tp in partitions})
    finally:
        await consumer.stop()


async def test_poison_records_are_dead_lettered_and_do_not_block(
    kafka_bootstrap, topics, events_dsn
):
    good = lifecycle("c1")
    bad_event = json.loads(good[1].to_bytes())
    bad_event["payload"]["channel"] = "pigeon"
    nul = json.loads(good[2].to_bytes())
    nul["producer"] = "bad\u0000producer"
    await produce_raw(
        kafka_bootstrap,
        topics.message_events,
        [
            (good[0].key, good[0].to_bytes()),
            (good[0].key, b"not json"),
            (good[0].key, json.dumps(bad_event).encode()),
            (good[0].key, json.dumps(nul).encode()),
            *[(e.key, e.to_bytes()) for e in good[1:]],
        ],
    )
    await produce_raw(kafka_bootstrap, topics.vault_audit, [(b"x", b'{"audit_id": 1}')])
    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, len(good))
    dead = await read_topic(kafka_bootstrap, topics.dead_letter, expect=4)
    assert len(dead) == 4
    reasons = {dict(r.headers)["blindpost.reason"].decode() for r in dead}
    assert any("payload" in r or "channel" in r for r in reasons), reasons


async def test_a_record_the_database_refuses_is_dead_lettered_alone(
    kafka_bootstrap, topics, events_dsn
):
    """Valid JSON PostgreSQL cannot index (an audit id longer than a B-tree row) must not
    stop the batch around it, nor the partition after it."""
    events = lifecycle("d1")
    good_fact = vault_read(events[0])
    huge = {**vault_read(events[0]), "audit_id": secrets.token_hex(10_000)}  # incompressible
    await produce_facts(kafka_bootstrap, topics, [good_fact, huge, vault_read(events[0])])
    await produce(kafka_bootstrap, topics.message_events, events)
    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, len(events))

        async def facts_stored() -> bool:
            return await count(pool, "SELECT count(*) FROM vault_audit_facts") == 2

        await eventually(facts_stored, within=30, what="the two good audit facts")
    dead = await read_topic(kafka_bootstrap, topics.dead_letter, expect=1)
    assert len(dead) == 1
    assert dict(dead[0].headers)["blindpost.reason"].startswith(b"refused by the database")


async def test_two_replicas_through_rebalances_store_each_event_once(
    kafka_bootstrap, topics, events_dsn
):
    """Replicas share the partitions; as they join and leave, partitions move between them
    mid-stream, and every event is still stored once, in order."""
    messages = [lifecycle(f"e{n}") for n in range(120)]
    events = [e for m in messages for e in m]
    third = len(events) // 3
    await produce(kafka_bootstrap, topics.message_events, events[:third])
    replicas: list = []
    async with running_projector(
        kafka_bootstrap, topics, events_dsn, max_records=25, started=replicas
    ) as pool:
        async with running_projector(
            kafka_bootstrap, topics, events_dsn, max_records=25, started=replicas
        ):

            async def shared() -> bool:
                return all(r.consumer.assignment() for r in replicas)

            await eventually(shared, within=30, what="partitions shared by both replicas")
            await produce(kafka_bootstrap, topics.message_events, events[third : 2 * third])

            async def both_working() -> bool:
                return all(r.stored_total for r in replicas)

            await eventually(both_working, within=30, what="both replicas storing events")
        # The second replica left: its partitions come back to the first.
        await produce(kafka_bootstrap, topics.message_events, events[2 * third :])
        await wait_for_events(pool, len(events), timeout_s=60)
        await wait_for_position(pool, kafka_bootstrap, topics.message_events)
        assert await count(pool, "SELECT count(*) FROM events") == len(events)
        async with pool.acquire() as conn:
            assert await verify(conn) == (len(messages), len(events), [])
        assert await count(pool, "SELECT sum(messages) FROM message_counts") == len(messages)
