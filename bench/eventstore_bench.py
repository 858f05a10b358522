"""Events projected per second (consumed, deduplicated, hash-chained, stored with the
projections and the Kafka positions in one transaction per batch), beside baselines
measured in the same run on the same events: a raw aiokafka consume of the topic, and a raw
asyncpg COPY of the same rows into a table without constraints.  Also replay and verify.
"""

from __future__ import annotations

import gc
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.common import BOOTSTRAP, Row, drop_database, scratch_database
from services.eventstore.app import MIGRATIONS, MIGRATIONS_TABLE
from services.eventstore.consumer import Projector
from services.eventstore.replay import replay_from_store
from services.eventstore.verify import verify
from shared.db import create_pool, migrate_database
from shared.domain import Channel
from shared.kafka import ensure_topics, start_consumer, start_producer
from shared.topics import DEAD_LETTER, MESSAGE_EVENTS, VAULT_AUDIT, Topics
from tests.eventstore.support import lifecycle
from tests.support.kafka import delete_topics_with_prefix, publish

MESSAGES = int(os.environ.get("BENCH_EVENTSTORE_MESSAGES", "2000"))
BATCH = 500
NAME = "eventstore"


async def run() -> list[Row]:
    topics = Topics(f"bench{uuid.uuid4().hex[:8]}.")
    await ensure_topics(BOOTSTRAP, topics, (MESSAGE_EVENTS, VAULT_AUDIT, DEAD_LETTER))
    start = datetime.now(UTC) - timedelta(days=1)
    events = [
        e
        for n in range(MESSAGES)
        for e in lifecycle(
            f"bench-{n}",
            channel=list(Channel)[n % 5],
            ext_user_id=f"player-{n % 500}",
            start=start + timedelta(seconds=n),
        )
    ]
    await publish(BOOTSTRAP, topics.message_events, events, linger_ms=20)

    note = f"{MESSAGES} messages x 15 events, 8 partitions"
    rows = [await _raw_consume(topics.message_events, len(events), note)]
    name, dsn = await scratch_database("events")
    try:
        rows.append(await _raw_copy(dsn, events, note))
        rows.append(await _project(dsn, topics, len(events), note))
        pool = await create_pool(dsn)
        try:
            started = time.perf_counter()
            replayed = await replay_from_store(pool, "replay", models=["projection"])
            rows.append(
                Row(
                    NAME,
                    "replay from the event store",
                    replayed,
                    time.perf_counter() - started,
                    note="into fresh tables",
                )
            )
            started = time.perf_counter()
            async with pool.acquire() as conn:
                _streams, checked, problems = await verify(conn)
            assert not problems
            rows.append(
                Row(NAME, "events verify (hash chains)", checked, time.perf_counter() - started)
            )
        finally:
            await pool.close()
    finally:
        await drop_database(name)
        await delete_topics_with_prefix(BOOTSTRAP, topics.prefix)
    return rows


async def _raw_consume(topic: str, expected: int, note: str) -> Row:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen = 0
        started = None
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
            got = sum(len(r) for r in batch.values())
            if got and started is None:
                started, got = time.perf_counter(), 0  # first batch: assignment included
                first = sum(len(r) for r in batch.values())
                seen += first
                continue
            seen += got
        elapsed = time.perf_counter() - (started or time.perf_counter())
    finally:
        await consumer.stop()
    return Row(NAME, "baseline: raw aiokafka consume", expected - first, elapsed, note=note)


async def _raw_copy(dsn: str, events: list, note: str) -> Row:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE raw_events (event_id uuid, stream_id uuid, type text, "
            "occurred_at timestamptz, producer text, payload jsonb)"
        )
        records = [
            (
                e.event_id,
                e.ext_message_id,
                e.type.value,
                e.occurred_at,
                e.producer,
                e.payload.model_dump_json(exclude_none=True),
            )
            for e in events
        ]
        started = time.perf_counter()
        for i in range(0, len(records), BATCH):
            async with conn.transaction():
                await conn.copy_records_to_table("raw_events", records=records[i : i + BATCH])
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    return Row(
        NAME,
        "baseline: raw asyncpg COPY",
        len(events),
        elapsed,
        note=f"batches of {BATCH}, no chain/dedup/projection",
    )


async def _project(dsn: str, topics: Topics, expected: int, note: str) -> Row:
    await migrate_database(dsn, MIGRATIONS, MIGRATIONS_TABLE)
    pool = await create_pool(dsn)
    producer = await start_producer(BOOTSTRAP)
    consumer = await start_consumer(
        BOOTSTRAP, topics.group("projector"), [], max_poll_records=BATCH
    )
    projector = Projector(
        pool=pool, consumer=consumer, producer=producer, topics=topics, max_records=BATCH
    )
    projector.subscribe()
    # As the projector's main does once started; here it also keeps the benchmark's own
    # events (all of them, held since publishing) out of every collection the projector pays.
    gc.freeze()
    try:
        while not projector.stored_total:  # the group join is not the projector's speed
            await projector.run_once(timeout_ms=1000)
        first = projector.stored_total
        started, cpu_started = time.perf_counter(), time.process_time()
        while projector.stored_total < expected:
            await projector.run_once(timeout_ms=1000)
        elapsed = time.perf_counter() - started
        # This process's CPU (PostgreSQL's is not in it): what the projector costs per event.
        cpu_us = (time.process_time() - cpu_started) * 1e6 / max(expected - first, 1)
    finally:
        await consumer.stop()
        await producer.stop()
        await pool.close()
    return Row(
        NAME,
        "projector (consume+store+project)",
        expected - first,
        elapsed,
        note=f"batches of {BATCH}, {cpu_us:.0f} µs CPU/event in the projector; {note}",
    )
