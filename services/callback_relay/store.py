"""The relay's PostgreSQL store: per-message facts, the (message, status) outbox with its
retry schedule, and the consumed Kafka position, each batch written in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg
from aiokafka import TopicPartition

from shared.domain import Channel, SmarticoStatus

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_TABLE = "callback_schema_migrations"


@dataclass(frozen=True)
class ConsumedBatch:
    topic: str
    partition: int
    next_offset: int
    messages: Sequence[tuple[uuid.UUID, Channel, str]]
    statuses: Sequence[tuple[uuid.UUID, SmarticoStatus]]


@dataclass(frozen=True)
class DueCallback:
    ext_message_id: uuid.UUID
    status: SmarticoStatus
    attempt: int
    first_seen_at: datetime
    channel: Channel
    callback_url: str


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
        """Idempotent rows plus a position that only moves forward: a batch written twice
        (redelivery, or two owners around a rebalance) changes nothing the second time."""
        async with self.pool.acquire() as conn, conn.transaction():
            if batch.messages:
                await conn.executemany(
                    "INSERT INTO callback_messages (ext_message_id, channel, callback_url)"
                    " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    [(m, c.value, u) for m, c, u in batch.messages],
                )
            if batch.statuses:
                await conn.executemany(
                    "INSERT INTO callback_outbox (ext_message_id, status)"
                    " VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    [(m, s.value) for m, s in batch.statuses],
                )
            await conn.execute(
                "INSERT INTO callback_offsets (topic, partition, next_offset) VALUES ($1, $2, $3)"
                " ON CONFLICT (topic, partition) DO UPDATE"
                " SET next_offset = GREATEST(callback_offsets.next_offset, EXCLUDED.next_offset)",
                batch.topic,
                batch.partition,
                batch.next_offset,
            )

    async def claim_due(self, limit: int, lease_s: float) -> list[DueCallback]:
        """Takes up to ``limit`` due callbacks and leases them: their next attempt moves
        ``lease_s`` ahead, so a relay that dies mid-call lets another one retry after the
        lease; SKIP LOCKED lets replicas claim side by side."""
        rows = await self.pool.fetch(
            """
            WITH due AS (
                SELECT o.ext_message_id, o.status
                FROM callback_outbox o
                JOIN callback_messages m USING (ext_message_id)
                WHERE o.state = 'pending' AND o.next_attempt_at <= now()
                ORDER BY o.next_attempt_at
                LIMIT $1
                FOR UPDATE OF o SKIP LOCKED
            )
            UPDATE callback_outbox o
            SET attempts = o.attempts + 1,
                next_attempt_at = now() + make_interval(secs => $2)
            FROM due, callback_messages m
            WHERE o.ext_message_id = due.ext_message_id AND o.status = due.status
              AND m.ext_message_id = o.ext_message_id
            RETURNING o.ext_message_id, o.status, o.attempts, o.first_seen_at,
                      m.channel, m.callback_url
            """,
            limit,
            lease_s,
        )
        return [
            DueCallback(
                r["ext_message_id"],
                SmarticoStatus(r["status"]),
                r["attempts"],
                r["first_seen_at"],
                Channel(r["channel"]),
                r["callback_url"],
            )
            for r in rows
        ]

    async def finish(self, results: Sequence[Result]) -> None:
        if not results:
            return
        await self.pool.executemany(
            """
            UPDATE callback_outbox
            SET state = $3,
                next_attempt_at = CASE WHEN $3 = 'pending'
                    THEN now() + make_interval(secs => $4) ELSE next_attempt_at END,
                last_error = $5,
                finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
            WHERE ext_message_id = $1 AND status = $2 AND state = 'pending'
            """,
            [(r.ext_message_id, r.status.value, r.state, r.retry_in_s, r.error) for r in results],
        )

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
