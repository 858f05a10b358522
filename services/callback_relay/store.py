"""The relay's PostgreSQL store: per-message facts, the (message, status) outbox with its
retry schedule, the consumed Kafka position (each batch written in one transaction), and
the events reporting recorded outcomes until they are on Kafka."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg
from aiokafka import TopicPartition

from shared.domain import Channel, SmarticoStatus
from shared.kafka import Output

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_TABLE = "callback_schema_migrations"


@dataclass(frozen=True)
class ConsumedBatch:
    """What a fetch adds to the store, and where each of its partitions resumes."""

    positions: Mapping[TopicPartition, int]
    messages: Sequence[tuple[uuid.UUID, Channel, str]] = ()
    statuses: Sequence[tuple[uuid.UUID, SmarticoStatus]] = ()


@dataclass(frozen=True)
class DueCallback:
    ext_message_id: uuid.UUID
    status: SmarticoStatus
    attempt: int
    first_seen_at: datetime
    channel: Channel
    callback_url: str
    # The previous attempt was claimed and never recorded: its relay died mid-call, and
    # Smartico may or may not have heard it.
    outcome_unknown: bool = False


@dataclass(frozen=True)
class Result:
    ext_message_id: uuid.UUID
    status: SmarticoStatus
    state: str  # pending (retry later), delivered, dead
    retry_in_s: float = 0.0
    error: str | None = None


class CallbackStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def positions(self, assigned: list[TopicPartition]) -> dict[TopicPartition, int]:
        rows = await self.pool.fetch(
            "SELECT topic, partition, next_offset FROM callback_offsets"
            " WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int[]))",
            [tp.topic for tp in assigned],
            [tp.partition for tp in assigned],
        )
        return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def record(self, batch: ConsumedBatch) -> None:
        """Idempotent rows plus positions that only move forward: a batch written twice
        (redelivery, or two owners around a rebalance) changes nothing the second time.
        Each table takes one statement over arrays, whatever the batch's size."""
        # Positions in one order for every writer: two owners around a rebalance lock
        # their shared rows in the same order, never each waiting for the other.
        positions = sorted(batch.positions.items())
        async with self.pool.acquire() as conn, conn.transaction():
            if batch.messages:
                await conn.execute(
                    "INSERT INTO callback_messages (ext_message_id, channel, callback_url)"
                    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])"
                    " ON CONFLICT DO NOTHING",
                    [m for m, _, _ in batch.messages],
                    [c.value for _, c, _ in batch.messages],
                    [u for _, _, u in batch.messages],
                )
            if batch.statuses:
                await conn.execute(
                    "INSERT INTO callback_outbox (ext_message_id, status)"
                    " SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING",
                    [m for m, _ in batch.statuses],
                    [s.value for _, s in batch.statuses],
                )
            await conn.execute(
                "INSERT INTO callback_offsets (topic, partition, next_offset)"
                " SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])"
                " ON CONFLICT (topic, partition) DO UPDATE"
                " SET next_offset = GREATEST(callback_offsets.next_offset, EXCLUDED.next_offset)",
                [tp.topic for tp, _ in positions],
                [tp.partition for tp, _ in positions],
                [offset for _, offset in positions],
            )

    async def claim_due(
        self, limit: int, lease_s: float, held: Sequence[tuple[uuid.UUID, SmarticoStatus]] = ()
    ) -> list[DueCallback]:
        """Takes up to ``limit`` due callbacks and leases them: their next attempt moves
        ``lease_s`` ahead, so a relay that dies mid-call lets another one retry after the
        lease; SKIP LOCKED lets replicas claim side by side.  ``held`` are the callbacks
        this relay is still calling or recording: never claimed again, even if their lease
        ran out while the database was away."""
        rows = await self.pool.fetch(
            """
            WITH due AS (
                SELECT o.ext_message_id, o.status, o.calling_since IS NOT NULL AS unknown
                FROM callback_outbox o
                JOIN callback_messages m USING (ext_message_id)
                WHERE o.state = 'pending' AND o.next_attempt_at <= now()
                  AND (o.ext_message_id, o.status) NOT IN
                      (SELECT * FROM unnest($3::uuid[], $4::text[]))
                ORDER BY o.next_attempt_at
                LIMIT $1
                FOR UPDATE OF o SKIP LOCKED
            )
            UPDATE callback_outbox o
            SET attempts = o.attempts + 1,
                next_attempt_at = now() + make_interval(secs => $2),
                calling_since = now()
            FROM due, callback_messages m
            WHERE o.ext_message_id = due.ext_message_id AND o.status = due.status
              AND m.ext_message_id = o.ext_message_id
            RETURNING o.ext_message_id, o.status, o.attempts, o.first_seen_at,
                      m.channel, m.callback_url, due.unknown
            """,
            limit,
            lease_s,
            [mid for mid, _status in held],
            [status.value for _mid, status in held],
        )
        return [
            DueCallback(
                r["ext_message_id"],
                SmarticoStatus(r["status"]),
                r["attempts"],
                r["first_seen_at"],
                Channel(r["channel"]),
                r["callback_url"],
                r["unknown"],
            )
            for r in rows
        ]

    async def finish(self, results: Sequence[Result], events: Sequence[Output]) -> None:
        """Outcomes and the events reporting them, in one transaction: Smartico's answer is
        durable after one round trip, whether or not the broker is reachable."""
        if not results:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                """
                UPDATE callback_outbox
                SET state = $3,
                    next_attempt_at = CASE WHEN $3 = 'pending'
                        THEN now() + make_interval(secs => $4) ELSE next_attempt_at END,
                    last_error = $5,
                    finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END,
                    calling_since = NULL
                WHERE ext_message_id = $1 AND status = $2 AND state = 'pending'
                """,
                [
                    (r.ext_message_id, r.status.value, r.state, r.retry_in_s, r.error)
                    for r in results
                ],
            )
            await conn.executemany(
                "INSERT INTO callback_event_outbox (topic, key, value) VALUES ($1, $2, $3)",
                [(e.topic, e.key, e.value) for e in events],
            )

    @asynccontextmanager
    async def unpublished(self, limit: int) -> AsyncIterator[list[Output]]:
        """Up to ``limit`` recorded events, oldest first, removed from the outbox when the
        block ends without an error (they are then on Kafka); SKIP LOCKED lets replicas
        publish side by side."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "DELETE FROM callback_event_outbox WHERE id IN ("
                " SELECT id FROM callback_event_outbox ORDER BY id LIMIT $1"
                " FOR UPDATE SKIP LOCKED) RETURNING id, topic, key, value",
                limit,
            )
            rows = sorted(rows, key=lambda r: r["id"])
            yield [Output(r["topic"], bytes(r["value"]), key=r["key"]) for r in rows]

    async def pending(self) -> int:
        """Counted through the partial index: cheap however many were delivered."""
        return int(
            await self.pool.fetchval("SELECT count(*) FROM callback_outbox WHERE state = 'pending'")
        )


async def reopen_dead(
    conn: asyncpg.Connection, callbacks: Sequence[tuple[uuid.UUID, SmarticoStatus]]
) -> int:
    """Dead callbacks an operator re-drove (``blindpost dlq redrive``): pending again, due
    now, with a fresh retry period.  Attempts go on counting, so each attempt's event keeps
    an id of its own; one delivered or pending meanwhile is left as it is."""
    if not callbacks:
        return 0
    result = await conn.execute(
        "UPDATE callback_outbox SET state = 'pending', first_seen_at = now(),"
        " next_attempt_at = now(), finished_at = NULL"
        " WHERE (ext_message_id, status) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))"
        " AND state = 'dead'",
        [m for m, _ in callbacks],
        [s.value for _, s in callbacks],
    )
    return int(result.split()[-1])
