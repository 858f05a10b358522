"""The projection tables in SQL: load and save message states, move the counts, and take a
projection's checksum.  One schema holds the live projection (``public``); a replay
rebuilds into another and is compared by checksum.

Table names are built from a schema name checked against a strict pattern; every value is
a query parameter.
"""

# ruff: noqa: S608 - every query here splices in a checked schema name (above), never a value

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg

from services.eventstore.chain import canonical_json
from services.eventstore.projection import MessageState, apply, count_deltas
from shared.events import Envelope, Event

COLUMNS = (
    "ext_message_id",
    "version",
    "channel",
    "ext_user_id",
    "uid",
    "status",
    "stage",
    "status_times",
    "accepted_at",
    "last_event_at",
    "attempts",
    "provider",
    "provider_message_id",
    "callbacks",
    "body_redacted",
)
TYPES = (
    "uuid", "int4", "text", "text", "text", "text", "text", "jsonb", "timestamptz",
    "timestamptz", "int4", "text", "text", "jsonb", "bool",
)


def state_from_record(record: asyncpg.Record) -> MessageState:
    values = dict(record)
    values["status_times"] = json.loads(values["status_times"])
    values["callbacks"] = json.loads(values["callbacks"])
    return MessageState(**{name: values[name] for name in COLUMNS})


def _state_values(state: MessageState) -> tuple[object, ...]:
    return (
        state.ext_message_id,
        state.version,
        state.channel,
        state.ext_user_id,
        state.uid,
        state.status,
        state.stage,
        json.dumps(state.status_times, sort_keys=True),
        state.accepted_at,
        state.last_event_at,
        state.attempts,
        state.provider,
        state.provider_message_id,
        json.dumps(state.callbacks, sort_keys=True),
        state.body_redacted,
    )


class Checksum:
    """A digest of a projection, fed rows in key order; equal digests, equal projections."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.rows = 0

    def add(self, row: Mapping[str, Any]) -> None:
        self._hash.update(canonical_json(row) + b"\n")
        self.rows += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class ProjectionTables:
    def __init__(self, schema: str = "public") -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
            raise ValueError("schema names are lower-case letters, digits and underscores")
        self.schema = schema
        self.state = f"{schema}.message_state"
        self.counts = f"{schema}.message_counts"
        unnest = ", ".join(f"${n}::{t}[]" for n, t in enumerate(TYPES, 1))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[1:])
        self._upsert = (
            f"INSERT INTO {self.state} ({', '.join(COLUMNS)}) SELECT * FROM unnest({unnest}) "
            f"ON CONFLICT (ext_message_id) DO UPDATE SET {updates}"
        )

    async def create_fresh(self, conn: asyncpg.Connection, like: ProjectionTables) -> None:
        """Empty tables shaped like ``like``'s, replacing any earlier rebuild."""
        await conn.execute(
            f"DROP SCHEMA IF EXISTS {self.schema} CASCADE; CREATE SCHEMA {self.schema};"
            f"CREATE TABLE {self.state} (LIKE {like.state} INCLUDING ALL);"
            f"CREATE TABLE {self.counts} (LIKE {like.counts} INCLUDING ALL);"
        )

    async def load(
        self, conn: asyncpg.Connection, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, MessageState]:
        rows = await conn.fetch(
            f"SELECT * FROM {self.state} WHERE ext_message_id = ANY($1::uuid[]) FOR UPDATE", ids
        )
        return {row["ext_message_id"]: state_from_record(row) for row in rows}

    async def save(self, conn: asyncpg.Connection, states: Iterable[MessageState]) -> None:
        rows = [_state_values(s) for s in sorted(states, key=lambda s: s.ext_message_id)]
        if rows:
            await conn.execute(self._upsert, *(list(col) for col in zip(*rows, strict=True)))

    async def move_counts(self, conn: asyncpg.Connection, deltas: Counter[tuple[str, str]]) -> None:
        keys = sorted(k for k, v in deltas.items() if v)  # one lock order: no deadlocks
        if not keys:
            return
        await conn.execute(
            f"INSERT INTO {self.counts} (status, channel, messages) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::int8[]) "
            f"ON CONFLICT (status, channel) DO UPDATE "
            f"SET messages = {self.counts}.messages + EXCLUDED.messages",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [deltas[k] for k in keys],
        )

    async def project(
        self, conn: asyncpg.Connection, events: Sequence[Event | Envelope]
    ) -> None:
        """Applies ``events`` (in stream order) to the stored states, in the caller's
        transaction."""
        ids = list(dict.fromkeys(e.ext_message_id for e in events))
        before = await self.load(conn, ids)
        after: dict[uuid.UUID, MessageState] = dict(before)
        for event in events:
            after[event.ext_message_id] = apply(after.get(event.ext_message_id), event)
        await self.save(conn, after.values())
        await self.move_counts(conn, count_deltas((before.get(i), after[i]) for i in ids))

    async def counts_by_status_and_channel(
        self, conn: asyncpg.Connection
    ) -> list[dict[str, object]]:
        rows = await conn.fetch(
            f"SELECT status, channel, messages FROM {self.counts} WHERE messages <> 0 "
            "ORDER BY status, channel"
        )
        return [dict(row) for row in rows]

    async def checksum(self, conn: asyncpg.Connection) -> dict[str, object]:
        states = Checksum()
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            async for row in conn.cursor(f"SELECT * FROM {self.state} ORDER BY ext_message_id"):
                states.add(state_from_record(row).as_json())
            counts = Checksum()
            for row in await self.counts_by_status_and_channel(conn):
                counts.add(row)
        return {
            "messages": states.rows,
            "state_sha256": states.hexdigest(),
            "counts_sha256": counts.hexdigest(),
        }
