"""Reading a whole topic as it stands: from its beginning to the end offsets of the moment
the read starts, in batches, without a consumer group (nothing committed, nobody's
position moved).  The replay reads the event log and the audit topic this way, and
``blindpost dlq`` the dead-letter topics."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.kafka import Kafka, client_config

QUIET_POLLS_LIMIT = 60


class TopicReadError(RuntimeError):
    pass


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(3):
        await consumer._client.force_metadata_update()  # noqa: SLF001 - no public call
        if found := consumer.partitions_for_topic(topic):
            return found
    return set()


async def read_to_end(
    kafka: Kafka, topic: str, batch: int = 2000
) -> AsyncIterator[list[ConsumerRecord]]:
    """Batches of committed records, each partition's in offset order, until every
    partition reached the end it had when the read began."""
    consumer = AIOKafkaConsumer(
        **client_config(kafka),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        found = await partitions_of(consumer, topic)
        if not found:
            raise TopicReadError(f"topic {topic} not found")
        partitions = [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        quiet = 0
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=batch)
            quiet = 0 if fetched else quiet + 1
            if quiet >= QUIET_POLLS_LIMIT:
                # A transaction left open on the topic holds read_committed readers back
                # until it ends; do not wait for it forever.
                raise TopicReadError(
                    f"no progress for {QUIET_POLLS_LIMIT} s below the end of {topic} "
                    "(an open producer transaction?); try again later"
                )
            records = [r for tp, rs in fetched.items() for r in rs if r.offset < ends[tp]]
            if records:
                yield records
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()


async def end_offsets(kafka: Kafka, topic: str) -> dict[int, int]:
    """Where each partition of ``topic`` ends now."""
    consumer = AIOKafkaConsumer(**client_config(kafka), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await partitions_of(consumer, topic)]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()
