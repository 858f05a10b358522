"""The dispatch ledger: which messages were claimed, sent, failed or parked for a retry.

It is what makes a crash never cause a second send: a row is claimed ('sending') before
the provider is called and marked 'sent' right after, and only the first claim of an
``ext_message_id`` ever sends; anything found already in the ledger is settled from it.
Rows in 'sending' past their lease (the dispatcher died mid-call) and 'parked' rows that
are due are picked up by the sweeper, one owner at a time (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Generic, TypeVar

import asyncpg

from shared.db import migrate_database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATIONS_TABLE = "dispatch_schema_migrations"

T = TypeVar("T")


async def migrate(dsn: str) -> list[str]:
    return await migrate_database(dsn, MIGRATIONS, MIGRATIONS_TABLE)


@dataclass(frozen=True)
class Claim:
    ext_message_id: uuid.UUID
    channel: str
    provider: str
    work: bytes


@dataclass(frozen=True)
class LedgerRow:
    ext_message_id: uuid.UUID
    channel: str
    provider: str
    state: str
    attempt: int
    due_at: datetime | None
    work: bytes | None
    provider_message_id: str | None
    segments: int | None
    reason: str | None
    # Its provider may have taken it (an attempt that stopped mid-call): never fails over.
    pinned: bool
    # The provider call of ``attempt`` began: a 'sending' row past its lease is an unknown
    # outcome only then (else it was claimed and waited on a limit when its process died).
    called: bool

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> LedgerRow:
        return cls(**{name: record[name] for name in cls.__dataclass_fields__})


# Column names come from the dataclass (constants), never from input: the f-strings below
# that splice them into SQL are safe.
_COLUMNS = ", ".join(LedgerRow.__dataclass_fields__)
_RETURNING = ", ".join("l." + c for c in LedgerRow.__dataclass_fields__ if c != "state")


class Ledger:
    """One dispatcher's view of the shared table: its rows carry its channel in ``family``
    (the column's name predates a dispatcher per channel; migration 0002)."""

    def __init__(self, pool: asyncpg.Pool, family: str) -> None:
        self.pool = pool
        self.family = family

    async def claim(
        self, claims: list[Claim], lease_s: float
    ) -> tuple[set[uuid.UUID], list[LedgerRow]]:
        """Claims the new ones in one statement; returns (claimed ids, rows already there)."""
        if not claims:
            return set(), []
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetch(
                """
                INSERT INTO dispatch_ledger
                    (ext_message_id, family, channel, provider, state, attempt, due_at, work,
                     called)
                SELECT m, $2, c, p, 'sending', 1, now() + make_interval(secs => $6), w, false
                FROM unnest($1::uuid[], $3::text[], $4::text[], $5::bytea[]) AS t(m, c, p, w)
                ON CONFLICT (ext_message_id) DO NOTHING
                RETURNING ext_message_id
                """,
                [c.ext_message_id for c in claims],
                self.family,
                [c.channel for c in claims],
                [c.provider for c in claims],
                [c.work for c in claims],
                lease_s,
            )
            claimed = {r["ext_message_id"] for r in inserted}
            others = [c.ext_message_id for c in claims if c.ext_message_id not in claimed]
            existing = []
            if others:
                existing = await conn.fetch(
                    f"SELECT {_COLUMNS} FROM dispatch_ledger WHERE ext_message_id = ANY($1::uuid[])",  # noqa: S608,E501 - column names are constants
                    others,
                )
        return claimed, [LedgerRow.from_record(r) for r in existing]

    async def next_attempt(
        self,
        ext_message_id: uuid.UUID,
        attempt: int,
        lease_s: float,
        provider: str | None = None,
        *,
        pinned: bool = False,
    ) -> None:
        """The row leased for ``attempt``, with the provider it goes to (failover) recorded
        before the call, so a crash in it leaves the right provider to recognise a resend."""
        await self._update(
            ext_message_id,
            "state = 'sending', attempt = $2, due_at = now() + make_interval(secs => $3),"
            " provider = coalesce($4, provider), pinned = pinned OR $5, called = false",
            attempt,
            lease_s,
            provider,
            pinned,
        )

    async def mark_sent(self, rows: list[tuple[uuid.UUID, int, str | None, int | None]]) -> None:
        """(id, attempt, provider message id, segments) of each message the provider took."""
        if not rows:
            return
        await self.pool.execute(
            """
            UPDATE dispatch_ledger AS l
            SET state = 'sent', attempt = t.a, provider_message_id = t.p, segments = t.s,
                work = NULL, due_at = NULL, updated_at = now()
            FROM unnest($1::uuid[], $2::int[], $3::text[], $4::int[]) AS t(m, a, p, s)
            WHERE l.ext_message_id = t.m
            """,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            [r[3] for r in rows],
        )

    async def mark_called(self, rows: list[tuple[uuid.UUID, int]]) -> None:
        """(id, attempt) of each message whose provider call begins now."""
        await self.pool.execute(
            """
            UPDATE dispatch_ledger AS l SET called = true
            FROM unnest($1::uuid[], $2::int[]) AS t(m, a)
            WHERE l.ext_message_id = t.m AND l.attempt = t.a
            """,
            [r[0] for r in rows],
            [r[1] for r in rows],
        )

    async def mark_failed(self, ext_message_id: uuid.UUID, attempt: int, reason: str) -> None:
        await self._update(
            ext_message_id,
            "state = 'failed', attempt = $2, reason = $3, work = NULL, due_at = NULL",
            attempt,
            reason,
        )

    async def park(
        self, ext_message_id: uuid.UUID, attempt: int, delay_s: float, reason: str
    ) -> None:
        await self._update(
            ext_message_id,
            "state = 'parked', attempt = $2, reason = $3,"
            " due_at = now() + make_interval(secs => $4)",
            attempt,
            reason,
            delay_s,
        )

    async def _update(self, ext_message_id: uuid.UUID, assignments: str, *args: object) -> None:
        # ``assignments`` is always one of the constants above, never input.
        await self.pool.execute(
            f"UPDATE dispatch_ledger SET {assignments}, updated_at = now()"  # noqa: S608 - see above
            " WHERE ext_message_id = $1",
            ext_message_id,
            *args,
        )

    async def take_due(self, limit: int, lease_s: float) -> list[LedgerRow]:
        """Due parked rows and 'sending' rows whose lease ran out, leased to this caller."""
        rows = await self.pool.fetch(
            f"""
            WITH due AS (
                SELECT ext_message_id, state AS previous_state FROM dispatch_ledger
                WHERE family = $1 AND state IN ('sending', 'parked') AND due_at <= now()
                ORDER BY due_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            )
            UPDATE dispatch_ledger AS l
            SET due_at = now() + make_interval(secs => $3), updated_at = now()
            FROM due WHERE l.ext_message_id = due.ext_message_id
            RETURNING {_RETURNING},
                      due.previous_state AS state
            """,  # noqa: S608 - _RETURNING is a constant column list
            self.family,
            limit,
            lease_s,
        )
        return [LedgerRow.from_record(r) for r in rows]

    async def count_parked(self) -> int:
        """The family's backlog outside Kafka: messages waiting for a later retry."""
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM dispatch_ledger WHERE family = $1 AND state = 'parked'",
                self.family,
            )
        )

    async def get(self, ext_message_id: uuid.UUID) -> LedgerRow | None:
        record = await self.pool.fetchrow(
            f"SELECT {_COLUMNS} FROM dispatch_ledger WHERE ext_message_id = $1",  # noqa: S608 - constant
            ext_message_id,
        )
        return LedgerRow.from_record(record) if record else None


class BatchedWrites(Generic[T]):
    """Ledger writes in small batches (one statement every few milliseconds), so the window
    in which a crash forgets one stays a few milliseconds wide without one database round
    trip per message.  ``add`` answers once its row is written."""

    def __init__(
        self, write: Callable[[list[T]], Awaitable[None]], interval_s: float = 0.005
    ) -> None:
        self.write = write
        self.interval_s = interval_s
        self._pending: list[T] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, row: T) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(row)
        self._waiters.append(done)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_soon())
        return done

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.interval_s)
        while self._pending:
            rows, waiters = self._pending, self._waiters
            self._pending, self._waiters = [], []
            try:
                await self.write(rows)
            except Exception as exc:  # noqa: BLE001 - each waiter sees the failure
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
