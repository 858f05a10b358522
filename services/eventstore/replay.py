"""``blindpost replay``: rebuilds every read model into a shadow schema, from the event
store or from the Kafka topic from its beginning, with the same code the stages use, and
compares each table with the live one by checksum (``promote.py`` swaps a rebuild in).

Events are applied in batches (one transaction each) against the shadow tables, never held
in memory.  An event this version cannot read is passed by and counted (the projection
still counts it in its message's version); one a read model has nothing to do with changes
nothing there.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from services.eventstore.chain import join_content
from services.eventstore.read_models import (
    ALL_MODELS,
    MODELS,
    VAULT_FACTS,
    migrate_all,
    tables_of,
)
from services.eventstore.records import Projectable, parse_event, projectable
from services.eventstore.shadow import Positions, compare_tables, create_shadow
from services.eventstore.tables import ProjectionTables
from services.eventstore.topic_reader import TopicReadError, read_to_end
from shared.events import PAYLOAD_TYPES, Envelope, SkipReason
from shared.kafka import Kafka
from shared.logging import get_logger

log = get_logger(__name__)
LIVE = ProjectionTables("public")
KNOWN_TYPES = {t.value for t in PAYLOAD_TYPES}
# Where the vault's audit facts are read from: (Kafka, topic).
AuditSource = tuple[Kafka, str]
Progress = Callable[[str], None]
PROGRESS_EVERY = 100_000


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


class _Rebuild:
    """One rebuild into ``schema``: its batches, the positions read, what was skipped."""

    def __init__(
        self, schema: str, source: str, models: Sequence[str] | None, audit: AuditSource | None,
        progress: Progress | None = None,
    ) -> None:
        names = list(models or [n for n in MODELS if audit or MODELS[n] is not VAULT_FACTS])
        if unknown := set(names) - set(MODELS):
            raise ReplayError(f"no read model named {', '.join(sorted(unknown))}")
        self.models = [MODELS[n] for n in names]
        if VAULT_FACTS in self.models and not audit:
            raise ReplayError("the vault-read facts are rebuilt from the audit topic: name it")
        self.event_models = [m for m in self.models if m is not VAULT_FACTS]
        self.schema = schema
        self.source = source
        self.audit = audit if VAULT_FACTS in self.models else None
        self.positions: Positions = {}
        self.skipped: Counter[str] = Counter()
        self.events = 0
        self.progress = progress

    async def start(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            await migrate_all(conn)
            try:
                await create_shadow(conn, self.schema, tables_of(ALL_MODELS))
            except ValueError as exc:
                raise ReplayError(str(exc)) from None
            # Where the event store stood when the rebuild began (promote.py).
            await conn.execute(
                f"CREATE TABLE {self.schema}.replay_meta AS SELECT ''::text AS source, "  # noqa: S608 - checked
                "0::bigint AS events, coalesce(max(position), 0) AS store_position, "
                "'{}'::text[] AS tables, '{}'::jsonb AS skipped FROM public.events"
            )

    def read(self, topic: str, partition: int, offset: int) -> None:
        key = (topic, partition)
        self.positions[key] = max(self.positions.get(key, 0), offset + 1)

    async def write(self, conn: asyncpg.Connection, events: Sequence[Projectable]) -> None:
        if not events:
            return
        for event in events:
            if isinstance(event, Envelope):
                self.skipped[
                    SkipReason.NEWER_VERSION if event.type in KNOWN_TYPES
                    else SkipReason.UNKNOWN_TYPE
                ] += 1
        async with conn.transaction():
            for model in self.event_models:
                await model.apply_read(conn, self.schema, events)
        if self.progress and (self.events + len(events)) // PROGRESS_EVERY > (
            self.events // PROGRESS_EVERY
        ):
            self.progress(f"{self.events + len(events)} events replayed")
        self.events += len(events)

    async def finish(self, pool: asyncpg.Pool) -> int:
        async with pool.acquire() as conn:
            for model in self.event_models:
                await model.finish(conn, self.schema, self.positions)
            if self.audit:
                try:
                    await VAULT_FACTS.rebuild(conn, self.schema, *self.audit)
                except TopicReadError as exc:
                    raise ReplayError(str(exc)) from None
            await conn.execute(
                f"UPDATE {self.schema}.replay_meta SET source = $1, events = $2, "  # noqa: S608 - checked
                "tables = $3, skipped = $4",
                self.source,
                self.events,
                [t.name for t in tables_of(self.models)],
                json.dumps(dict(self.skipped)),
            )
        if self.skipped:
            log.warning("events this version cannot read were passed by", **self.skipped)
        return self.events


async def replay_from_store(
    pool: asyncpg.Pool, into: str = "replay", batch: int = 2000, *,
    models: Sequence[str] | None = None, audit: AuditSource | None = None,
    progress: Progress | None = None,
) -> int:
    """Rebuilds ``models`` (by name; default: every one, the vault-read facts when their
    ``audit`` source is given), telling ``progress`` every 100,000 events.  Returns the
    number of events replayed."""
    rebuild = _Rebuild(into, "store", models, audit, progress)
    await rebuild.start(pool)
    async with pool.acquire() as reader, pool.acquire() as writer:
        async with reader.transaction(isolation="repeatable_read", readonly=True):
            pending: list[Projectable] = []
            async for row in reader.cursor(
                "SELECT * FROM events ORDER BY stream_id, version", prefetch=batch
            ):
                pending.append(event_from_row(row))
                rebuild.read(row["source_topic"], row["source_partition"], row["source_offset"])
                if len(pending) >= batch:
                    await rebuild.write(writer, pending)
                    pending = []
            await rebuild.write(writer, pending)
    return await rebuild.finish(pool)


async def replay_from_kafka(
    pool: asyncpg.Pool, kafka: Kafka, topic: str, into: str = "replay", batch: int = 2000, *,
    models: Sequence[str] | None = None, audit: AuditSource | None = None,
    progress: Progress | None = None,
) -> int:
    """Reads ``topic`` from its beginning to its end as of now; duplicates (same event id)
    and records the projector dead-lettered are skipped, as the projector skips them."""
    rebuild = _Rebuild(into, "kafka", models, audit, progress)
    await rebuild.start(pool)
    async with pool.acquire() as conn:
        await conn.execute(f"CREATE TABLE {into}.seen_events (event_id uuid PRIMARY KEY)")
    try:
        async with pool.acquire() as writer:
            async for records in read_to_end(kafka, topic, batch):
                for record in records:
                    rebuild.read(record.topic, record.partition, record.offset)
                events = [e for e in (_parse(r) for r in records) if e]
                await _write_new(writer, rebuild, events)
    except TopicReadError as exc:
        raise ReplayError(str(exc)) from None
    return await rebuild.finish(pool)


def _parse(record: Any) -> Projectable | None:
    try:
        return parse_event(record.value, "replay").read
    except Exception:  # noqa: BLE001 - the projector dead-lettered it; so does the replay
        return None


async def _write_new(
    conn: asyncpg.Connection, rebuild: _Rebuild, events: list[Projectable]
) -> None:
    seen: set[object] = set()
    first = []
    for event in events:  # the first of several copies wins, as in the event store
        if event.event_id not in seen:
            seen.add(event.event_id)
            first.append(event)
    async with conn.transaction():
        rows = await conn.fetch(
            f"INSERT INTO {rebuild.schema}.seen_events SELECT unnest($1::uuid[]) "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            [e.event_id for e in first],
        )
        new = {row["event_id"] for row in rows}
        await rebuild.write(conn, [e for e in first if e.event_id in new])


async def compare(pool: asyncpg.Pool, into: str) -> dict[str, Any]:
    """The projection's checksums (live and rebuilt) and every rebuilt table's."""
    async with pool.acquire() as conn:
        live = await LIVE.checksum(conn)
        rebuilt = await ProjectionTables(into).checksum(conn)
        counts = await ProjectionTables(into).counts_by_status_and_channel(conn)
        meta = await conn.fetchrow(f"SELECT * FROM {into}.replay_meta")  # noqa: S608 - checked
        rebuilt_tables = [t for t in tables_of(ALL_MODELS) if t.name in meta["tables"]]
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            tables = await compare_tables(conn, into, rebuilt_tables)
    return {
        "live": live,
        "rebuilt": rebuilt,
        "identical": all(t["identical"] for t in tables.values()),
        "counts": counts,
        "tables": tables,
        "skipped": json.loads(meta["skipped"]),
    }
