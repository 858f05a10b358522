"""The event store in SQL: stream heads, appending chained rows, the projector's stored
positions, the vault's audit facts and body removal.  Callers hold the transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from services.eventstore.chain import GENESIS, ChainedFields, canonical_json, link, split_content
from services.eventstore.records import AuditFact, Position
from shared.events import Envelope, Event, EventType

EVENT_COLUMNS = (
    "event_id", "stream_id", "version", "type", "occurred_at", "producer", "schema_version",
    "payload", "content", "prev_hash", "hash", "source_topic", "source_partition",
    "source_offset",
)


@dataclass(frozen=True)
class Head:
    version: int
    hash: bytes


FIRST = Head(0, GENESIS)  # before a stream's first event


def chain_rows(
    events: Sequence[tuple[Envelope, Position]], heads: dict[uuid.UUID, Head]
) -> tuple[list[tuple[object, ...]], dict[uuid.UUID, Head]]:
    """The rows to append, each linked to its stream's head, and the new heads (pure).
    Each event is stored as its producer wrote it: type, version and payload unchanged."""
    heads = dict(heads)
    rows: list[tuple[object, ...]] = []
    for event, position in events:
        head = heads.get(event.ext_message_id) or FIRST
        stored, content = split_content(event.payload)
        fields = ChainedFields(
            stream_id=event.ext_message_id,
            version=head.version + 1,
            event_id=event.event_id,
            type=event.type,
            occurred_at=event.occurred_at,
            producer=event.producer,
            schema_version=event.schema_version,
            payload=stored,
        )
        payload_json = canonical_json(stored)  # chained and stored: encoded once
        digest = link(head.hash, fields, payload_json)
        rows.append(
            (
                event.event_id, event.ext_message_id, fields.version, fields.type,
                event.occurred_at, event.producer, event.schema_version,
                payload_json.decode(),
                None if content is None else json.dumps(content), head.hash, digest,
                position.topic, position.partition, position.offset,
            )
        )
        heads[event.ext_message_id] = Head(fields.version, digest)
    return rows, heads


async def existing_event_ids(conn: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    rows = await conn.fetch("SELECT event_id FROM events WHERE event_id = ANY($1::uuid[])", ids)
    return {row["event_id"] for row in rows}


async def lock_heads(
    conn: asyncpg.Connection, stream_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Head]:
    rows = await conn.fetch(
        "SELECT stream_id, version, head_hash FROM streams WHERE stream_id = ANY($1::uuid[]) "
        "ORDER BY stream_id FOR UPDATE",
        stream_ids,
    )
    return {row["stream_id"]: Head(row["version"], row["head_hash"]) for row in rows}


async def append(
    conn: asyncpg.Connection, rows: list[tuple[object, ...]], heads: dict[uuid.UUID, Head]
) -> None:
    if not rows:
        return
    await conn.copy_records_to_table("events", records=rows, columns=EVENT_COLUMNS)
    ordered = sorted(heads.items())
    await conn.execute(
        "INSERT INTO streams (stream_id, version, head_hash) "
        "SELECT * FROM unnest($1::uuid[], $2::int4[], $3::bytea[]) "
        "ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, "
        "head_hash = EXCLUDED.head_hash",
        [k for k, _ in ordered],
        [h.version for _, h in ordered],
        [h.hash for _, h in ordered],
    )


async def remove_bodies(conn: asyncpg.Connection, stream_ids: Sequence[uuid.UUID]) -> int:
    result = await conn.execute(
        "UPDATE events SET content = NULL WHERE stream_id = ANY($1::uuid[]) "
        "AND content IS NOT NULL",
        stream_ids,
    )
    return int(result.split()[-1])


def redacted_streams(events: Iterable[Event | Envelope]) -> list[uuid.UUID]:
    return sorted({e.ext_message_id for e in events if e.type == EventType.MESSAGE_BODY_REDACTED})


async def insert_audit_facts(
    conn: asyncpg.Connection, facts: Sequence[tuple[AuditFact, Position]]
) -> int:
    """Stores each fact once (the vault may publish one again); returns how many were new."""
    if not facts:
        return 0
    columns = list(zip(*(
        (
            f.audit_id, f.ext_message_id, f.ext_user_id, f.caller, f.scope, f.purpose,
            json.dumps(f.fields), f.decision, f.at, f.request_id, p.topic, p.partition, p.offset,
        )
        for f, p in facts
    ), strict=True))
    rows = await conn.fetch(
        "INSERT INTO vault_audit_facts (audit_id, ext_message_id, ext_user_id, caller, scope, "
        "purpose, fields, decision, at, request_id, source_topic, source_partition, "
        "source_offset) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
        "$5::text[], $6::text[], $7::jsonb[], $8::text[], $9::timestamptz[], $10::text[], "
        "$11::text[], $12::int4[], $13::int8[]) ON CONFLICT (audit_id) DO NOTHING "
        "RETURNING audit_id",
        *(list(c) for c in columns),
    )
    return len(rows)


async def lock_positions(
    conn: asyncpg.Connection, partitions: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """The stored next offset per partition, locked until the transaction ends: a second
    projector (a zombie after a rebalance) waits here, then skips what this one wrote."""
    ordered = sorted(set(partitions))
    await conn.execute(
        "INSERT INTO projector_positions (topic, partition, next_offset) "
        "SELECT t, p, 0 FROM unnest($1::text[], $2::int4[]) AS x(t, p) ON CONFLICT DO NOTHING",
        [t for t, _ in ordered],
        [p for _, p in ordered],
    )
    rows = await conn.fetch(
        "SELECT topic, partition, next_offset FROM projector_positions "
        "WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int4[])) "
        "ORDER BY topic, partition FOR UPDATE",
        [t for t, _ in ordered],
        [p for _, p in ordered],
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def save_positions(conn: asyncpg.Connection, positions: dict[tuple[str, int], int]) -> None:
    ordered = sorted(positions.items())
    await conn.execute(
        "UPDATE projector_positions AS p SET next_offset = x.o, updated_at = now() "
        "FROM unnest($1::text[], $2::int4[], $3::int8[]) AS x(t, n, o) "
        "WHERE p.topic = x.t AND p.partition = x.n",
        [k[0] for k, _ in ordered],
        [k[1] for k, _ in ordered],
        [v for _, v in ordered],
    )


async def stored_positions(
    conn: asyncpg.Connection, partitions: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    rows = await conn.fetch(
        "SELECT topic, partition, next_offset FROM projector_positions "
        "WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int4[]))",
        [t for t, _ in partitions],
        [p for _, p in partitions],
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
