"""The sending domains whose mail the e-mail dispatcher parks, in its database.

A table, not a set rebuilt from the log at each start: every replica reads the same rows
(one truth however the log's partitions are spread), a restart finds them at once (no
replay of a 400-day topic), and a hold is taken in the same statement that looks the
domain up.  ``domain_view.py`` keeps the table from the event log, its position written
with the changes in one transaction.

The hold and the resume cannot miss each other: a hold locks the domain's row (``FOR
SHARE``) while it parks the messages, and a resume deletes that row before it makes the
domain's held messages due.  Whichever comes second sees the first: a hold after the
resume finds no row and parks nothing; a resume after the hold finds its messages.  A
held message is also looked at again every ``recheck_s`` (the sweeper): with the setting
turned off, or the row gone, it goes out then.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import TopicPartition

HOLD_REASON = "domain_parked"


@dataclass(frozen=True)
class Parked:
    """A domain parked by a critical complaint level (its event and numbers)."""

    sending_domain: str
    event_id: uuid.UUID
    complaints: int
    sent: int
    ratio: float


@dataclass(frozen=True)
class Resumed:
    sending_domain: str


Change = Parked | Resumed


@dataclass(frozen=True)
class Held:
    """A claimed message of a sending domain, and the last attempt made (0: none yet)."""

    ext_message_id: uuid.UUID
    sending_domain: str
    attempt: int


class ParkedDomains:
    def __init__(self, pool: asyncpg.Pool, recheck_s: float) -> None:
        self.pool = pool
        self.recheck_s = recheck_s

    async def hold(self, candidates: list[Held]) -> set[uuid.UUID]:
        """Parks the candidates whose domain is parked, until a resume or ``recheck_s``;
        returns their ids.  One statement, whatever the batch."""
        if not candidates:
            return set()
        rows = await self.pool.fetch(
            """
            WITH parked AS (
                SELECT sending_domain FROM dispatch_parked_domains
                WHERE sending_domain = ANY($2::text[])
                FOR SHARE
            )
            UPDATE dispatch_ledger AS l
            SET state = 'parked', held_for = t.d, reason = $4, attempt = t.a,
                due_at = now() + make_interval(secs => $5), updated_at = now()
            FROM unnest($1::uuid[], $2::text[], $3::int[]) AS t(m, d, a)
            JOIN parked ON parked.sending_domain = t.d
            WHERE l.ext_message_id = t.m AND l.state IN ('sending', 'parked')
            RETURNING l.ext_message_id
            """,
            [c.ext_message_id for c in candidates],
            [c.sending_domain for c in candidates],
            [c.attempt for c in candidates],
            HOLD_REASON,
            self.recheck_s,
        )
        return {r["ext_message_id"] for r in rows}

    async def positions(self, assigned: list[TopicPartition]) -> dict[TopicPartition, int]:
        rows = await self.pool.fetch(
            "SELECT topic, partition, next_offset FROM dispatch_domain_positions"
            " WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int[]))",
            [tp.topic for tp in assigned],
            [tp.partition for tp in assigned],
        )
        return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def apply(
        self, tp: TopicPartition, changes: list[tuple[int, Change]], next_offset: int
    ) -> None:
        """The changes read from one partition (with their offsets) and the position after
        them, in one transaction.  Offsets before the stored position are skipped: a batch
        applied again (two owners around a rebalance) never re-parks a domain resumed since."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO dispatch_domain_positions (topic, partition, next_offset)"
                " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                tp.topic,
                tp.partition,
                changes[0][0] if changes else next_offset,
            )
            stored = await conn.fetchval(
                "SELECT next_offset FROM dispatch_domain_positions"
                " WHERE topic = $1 AND partition = $2 FOR UPDATE",
                tp.topic,
                tp.partition,
            )
            for offset, change in changes:
                if offset >= stored:
                    await _apply(conn, change)
            await conn.execute(
                "UPDATE dispatch_domain_positions SET next_offset = GREATEST(next_offset, $3)"
                " WHERE topic = $1 AND partition = $2",
                tp.topic,
                tp.partition,
                next_offset,
            )

    async def listing(self) -> list[dict[str, Any]]:
        """Each parked domain, its numbers, and how many messages it holds."""
        rows = await self.pool.fetch(
            """
            SELECT d.sending_domain, d.parked_at, d.complaints, d.sent, d.ratio,
                   (SELECT count(*) FROM dispatch_ledger l
                    WHERE l.held_for = d.sending_domain AND l.state = 'parked') AS held
            FROM dispatch_parked_domains d ORDER BY d.parked_at
            """
        )
        return [_jsonable(dict(r)) for r in rows]

    async def is_parked(self, sending_domain: str) -> bool:
        return bool(
            await self.pool.fetchval(
                "SELECT 1 FROM dispatch_parked_domains WHERE sending_domain = $1", sending_domain
            )
        )


async def _apply(conn: asyncpg.Connection, change: Change) -> None:
    if isinstance(change, Parked):
        # Parked already: the first critical level stays the one shown.
        await conn.execute(
            "INSERT INTO dispatch_parked_domains"
            " (sending_domain, event_id, complaints, sent, ratio) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT DO NOTHING",
            change.sending_domain,
            change.event_id,
            change.complaints,
            change.sent,
            change.ratio,
        )
        return
    # The row first (a hold taking it waits for this commit), then what it held.
    await conn.execute(
        "DELETE FROM dispatch_parked_domains WHERE sending_domain = $1", change.sending_domain
    )
    await conn.execute(
        "UPDATE dispatch_ledger SET due_at = now(), held_for = NULL, updated_at = now()"
        " WHERE held_for = $1 AND state = 'parked'",
        change.sending_domain,
    )


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
