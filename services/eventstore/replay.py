"""``blindpost replay``: rebuilds the projections into fresh tables, from the event store or
from the Kafka topic from its beginning, with the same pure functions the projector uses,
and compares the result with the live projection by checksum."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.eventstore.chain import join_content
from services.eventstore.records import Projectable, parse_event, projectable
from services.eventstore.tables import ProjectionTables
from shared.events import Envelope
from shared.kafka import Kafka, client_config
from shared.logging import get_logger

log = get_logger(__name__)
LIVE = ProjectionTables("public")
QUIET_POLLS_LIMIT = 60


class ReplayError(RuntimeError):
    pass


def event_from_row(record: asyncpg.Record) -> Projectable:
    """A stored row read as the projector reads the record it came from (upcast if old)."""
    content = None if record["content"] is None else json.loads(record["content"])
    envelope = Envelope(
        event_id=record["event_id"],
        type=record["type"],
        ext_message_id=record["stream_id"],
        occurred_at=record["occurred_at"],
        producer=record["producer"],
        schema_version=record["schema_version"],
        payload=join_content(json.loads(record["payload"]), content),
    )
    return projectable(envelope, "replay")


async def _fresh(pool: asyncpg.Pool, into: str) -> ProjectionTables:
    if into == LIVE.schema:
        raise ReplayError("replay builds fresh tables; it never writes into the live schema")
    target = ProjectionTables(into)
    async with pool.acquire() as conn:
        await target.create_fresh(conn, like=LIVE)
    return target


async def replay_from_store(pool: asyncpg.Pool, into: str = "replay", batch: int = 2000) -> int:
    """Returns the number of events replayed."""
    target = await _fresh(pool, into)
    replayed = 0
    async with pool.acquire() as reader, pool.acquire() as writer:
        async with reader.transaction(isolation="repeatable_read", readonly=True):
            pending: list[Projectable] = []
            async for row in reader.cursor(
                "SELECT * FROM events ORDER BY stream_id, version", prefetch=batch
            ):
                pending.append(event_from_row(row))
                if len(pending) >= batch:
                    replayed += await _write(writer, target, pending)
                    pending = []
            replayed += await _write(writer, target, pending)
    return replayed


async def _write(
    conn: asyncpg.Connection, target: ProjectionTables, events: Sequence[Projectable]
) -> int:
    if events:
        async with conn.transaction():
            await target.project(conn, events)
    return len(events)


async def replay_from_kafka(
    pool: asyncpg.Pool, kafka: Kafka, topic: str, into: str = "replay", batch: int = 2000
) -> int:
    """Reads ``topic`` from its beginning to its end as of now; duplicates (same event id)
    and records the projector dead-lettered are skipped, as the projector skips them."""
    target = await _fresh(pool, into)
    async with pool.acquire() as conn:
        await conn.execute(f"CREATE TABLE {into}.seen_events (event_id uuid PRIMARY KEY)")
    consumer = AIOKafkaConsumer(
        **client_config(kafka),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    replayed = 0
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        quiet = 0
        async with pool.acquire() as writer:
            while remaining:
                fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=batch)
                quiet = 0 if fetched else quiet + 1
                if quiet >= QUIET_POLLS_LIMIT:
                    # A transaction left open on the topic holds read_committed readers
                    # back until it ends; do not wait for it forever.
                    raise ReplayError(
                        f"no progress for {QUIET_POLLS_LIMIT} s below the end of the topic "
                        "(an open producer transaction?); replay again later"
                    )
                events: list[Projectable | None] = []
                for tp, records in fetched.items():
                    events.extend(_parse(r) for r in records if r.offset < ends[tp])
                replayed += await _write_new(writer, target, [e for e in events if e])
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
    return replayed


def _parse(record: Any) -> Projectable | None:
    try:
        return parse_event(record.value, "replay").read
    except Exception:  # noqa: BLE001 - the projector dead-lettered it; so does the replay
        return None


async def _write_new(
    conn: asyncpg.Connection, target: ProjectionTables, events: list[Projectable]
) -> int:
    if not events:
        return 0
    seen: set[object] = set()
    unique = []
    for event in events:  # the first of several copies wins, as in the event store
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique.append(event)
    async with conn.transaction():
        rows = await conn.fetch(
            f"INSERT INTO {target.schema}.seen_events SELECT unnest($1::uuid[]) "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            [e.event_id for e in unique],
        )
        new = {row["event_id"] for row in rows}
        fresh = [e for e in unique if e.event_id in new]
        if fresh:
            await target.project(conn, fresh)
    return len(fresh)


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(3):
        await consumer._client.force_metadata_update()  # noqa: SLF001 - no public call
        if found := consumer.partitions_for_topic(topic):
            return found
    return set()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    found = await partitions_of(consumer, topic)
    if not found:
        raise ReplayError(f"topic {topic} not found")
    return [TopicPartition(topic, p) for p in sorted(found)]


async def compare(pool: asyncpg.Pool, into: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        live = await LIVE.checksum(conn)
        rebuilt = await ProjectionTables(into).checksum(conn)
        counts = await ProjectionTables(into).counts_by_status_and_channel(conn)
    return {"live": live, "rebuilt": rebuilt, "identical": live == rebuilt, "counts": counts}
