"""A transactional stage's producer wedged by aiokafka (sequence numbers spent on a batch it
never wrote, as when a batch expires during a broker restart): the transaction that hit it
commits neither its records nor its offsets, the producer is replaced, and the next
transaction commits.  The intake side is in ``tests/intake/test_producer_recovery.py``."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import OutOfOrderSequenceNumber

from shared.kafka import start_producer
from shared.kafka.producer import ProducerWedged
from shared.topics import Topics
from tests.support.kafka import read_topic


async def committed_offset(bootstrap: str, group: str, tp: TopicPartition) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return offsets[tp].offset if tp in offsets else None


async def test_a_transaction_over_a_wedged_producer_commits_nothing_and_the_next_one_commits(
    kafka_bootstrap: str, topics: Topics, topic_prefix: str
):
    out, consumed = topics.message_events, TopicPartition(topics.dead_letter, 0)
    group = f"{topic_prefix}stage"
    producer = await start_producer(kafka_bootstrap, transactional_id=f"{topic_prefix}stage")
    try:
        async with producer.transaction():
            for partition in (0, 1):
                await producer.send(out, b"first", key=b"k", partition=partition)
            await producer.send_offsets_to_transaction({consumed: 1}, group)

        # What aiokafka's expiry does: sequence numbers spent on batches never written.
        producer._current._txn_manager.increment_sequence_number(TopicPartition(out, 0), 3)  # type: ignore[union-attr]
        with pytest.raises(OutOfOrderSequenceNumber):
            async with producer.transaction():
                await producer.send(out, b"refused", key=b"k", partition=0)
                await producer.send(out, b"aborted", key=b"k", partition=1)
                await producer.send_offsets_to_transaction({consumed: 2}, group)
        assert await committed_offset(kafka_bootstrap, group, consumed) == 1
        with pytest.raises(ProducerWedged):
            await producer.check()

        async with producer.transaction():
            await producer.send(out, b"again", key=b"k", partition=0)
            await producer.send_offsets_to_transaction({consumed: 2}, group)
        await producer.check()
    finally:
        await producer.stop()

    records = await read_topic(kafka_bootstrap, out, expect=3)
    assert sorted(r.value for r in records) == [b"again", b"first", b"first"]
    assert await committed_offset(kafka_bootstrap, group, consumed) == 2
