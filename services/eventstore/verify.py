"""``blindpost events verify``: reads every stream in version order and checks its chain."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg

from services.eventstore.chain import ChainedFields, Problem, StoredRow, StreamHead, verify_stream

_SELECT = (
    "SELECT e.*, s.version AS head_version, s.head_hash FROM events e "
    "LEFT JOIN streams s USING (stream_id) "
)
_ORDER = " ORDER BY e.stream_id, e.version, e.position"
_ALL_STREAMS = _SELECT + _ORDER
_ONE_STREAM = _SELECT + "WHERE e.stream_id = $1" + _ORDER
_ORPHANS = (
    "SELECT stream_id, version FROM streams s WHERE NOT EXISTS "
    "(SELECT 1 FROM events e WHERE e.stream_id = s.stream_id) AND "
)


def _row(record: asyncpg.Record) -> StoredRow:
    return StoredRow(
        position=record["position"],
        fields=ChainedFields(
            stream_id=record["stream_id"],
            version=record["version"],
            event_id=record["event_id"],
            type=record["type"],
            occurred_at=record["occurred_at"],
            producer=record["producer"],
            schema_version=record["schema_version"],
            payload=json.loads(record["payload"]),
        ),
        content=None if record["content"] is None else json.loads(record["content"]),
        prev_hash=bytes(record["prev_hash"]),
        hash=bytes(record["hash"]),
    )


async def _streams(
    conn: asyncpg.Connection, stream: uuid.UUID | None
) -> AsyncIterator[tuple[list[StoredRow], StreamHead | None]]:
    query = _ONE_STREAM if stream else _ALL_STREAMS
    current: list[StoredRow] = []
    head: StreamHead | None = None
    async for record in conn.cursor(query, *([stream] if stream else []), prefetch=2000):
        if current and record["stream_id"] != current[0].fields.stream_id:
            yield current, head
            current = []
        if not current:
            head = (
                StreamHead(record["stream_id"], record["head_version"], bytes(record["head_hash"]))
                if record["head_version"] is not None
                else None
            )
        current.append(_row(record))
    if current:
        yield current, head


async def verify(
    conn: asyncpg.Connection, stream: uuid.UUID | None = None, max_problems: int = 100
) -> tuple[int, int, list[Problem]]:
    """(streams checked, rows checked, problems in stream order: the first is the first bad
    row)."""
    problems: list[Problem] = []
    streams = rows = 0
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for stream_rows, head in _streams(conn, stream):
            streams += 1
            rows += len(stream_rows)
            for problem in verify_stream(stream_rows, head):
                if len(problems) < max_problems:
                    problems.append(problem)
        # A stream whose every row was deleted still has its recorded head.
        orphans = await conn.fetch(
            _ORPHANS + ("s.stream_id = $1" if stream else "true"),
            *([stream] if stream else []),
        )
    for orphan in orphans:
        problems.append(
            Problem(
                orphan["stream_id"], orphan["version"], None, None,
                "every row of the stream is missing",
            )
        )
    return streams, rows, problems
