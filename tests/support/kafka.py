"""Reading what is on a topic, the way an auditor would: from the beginning."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRecord


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
