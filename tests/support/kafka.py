"""Putting events on a topic, reading them back the way an auditor would (from the
beginning), and deleting a test's topics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.events import Event
from shared.kafka import admin_client, start_producer


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    expect: int | None = None,
    timeout_s: float = 10.0,
    isolation_level: str = "read_committed",
) -> list[ConsumerRecord]:
    """Every committed record on ``topic``; with ``expect``, waits until that many arrived
    (or the timeout passed), then reads a little longer to catch any extra ones."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation_level,
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        quiet_rounds = 0
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            got = [r for rs in batch.values() for r in rs]
            records.extend(got)
            if expect is None or len(records) >= expect:
                quiet_rounds = 0 if got else quiet_rounds + 1
                if quiet_rounds >= 3:
                    break
    finally:
        await consumer.stop()
    return records


async def publish(
    bootstrap: str,
    topic: str,
    events: Iterable[Event],
    *,
    partition: int | None = None,
    **producer: Any,
) -> None:
    """Every event on ``topic`` (keyed by message, or all on ``partition``), acknowledged
    before it returns."""
    started = await start_producer(bootstrap, **producer)
    try:
        futures = [
            await started.send(topic, e.to_bytes(), key=e.key, partition=partition) for e in events
        ]
        for future in futures:
            await future
    finally:
        await started.stop()


async def delete_topics_with_prefix(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def partitions_of(bootstrap: str, topic: str) -> list[int]:
    admin = admin_client(bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for p in described[0]["partitions"])


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Where each partition of ``topic`` ends now (the next offset to be written)."""
    partitions = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


def distinct_dead_letters(records: list[ConsumerRecord]) -> list[tuple[bytes, bytes]]:
    """(value, reason) of each dead letter once, in the order first seen: dead letters are at
    least once (a crash or a rebalance between the dead letter and the stored position sends
    it again), so a test asserts what was dead-lettered, not how often."""
    seen = ((r.value or b"", dict(r.headers)["blindpost.reason"]) for r in records)
    return list(dict.fromkeys(seen))
