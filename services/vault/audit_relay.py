"""Publishes the audit log to Kafka for the operator's SIEM, from the table itself (an
outbox): a fact is published only once its row is committed, every committed row is
published even if Kafka was down when it was written, and a request never waits for it.
At least once: a consumer dedupes by ``audit_id``."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from prometheus_client import Gauge

from services.vault import audit_store
from services.vault.publisher import Publisher
from shared.kafka import Backoff
from shared.logging import get_logger

log = get_logger(__name__)

RELAY_LAG = Gauge(
    "blindpost_vault_audit_relay_lag_rows", "Audit rows committed but not yet published to Kafka"
)


class AuditRelay:
    def __init__(
        self, pool: asyncpg.Pool, publisher: Publisher, chunk: int = 2000, gather_s: float = 0.05
    ) -> None:
        self.pool = pool
        self.publisher = publisher
        self.chunk = chunk
        # Woken, it waits this long so that the commits of that moment share one publish (a
        # transaction, a read, a produce request each): publishing costs per round, not only
        # per row, and a request never waits for it.
        self.gather_s = gather_s
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """A transaction with audit rows committed: publish soon."""
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish committed rows not yet published; returns how many.  The cursor row's
        lock keeps two vault replicas from publishing the same rows at once."""
        published = 0
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                cursor = await conn.fetchval(
                    "SELECT published_seq FROM audit_relay WHERE id FOR UPDATE"
                )
                last, facts = await audit_store.facts_after(conn, cursor, self.chunk)
                if facts:
                    await self.publisher.audit(facts)
                    cursor = last
                    head = await conn.fetchval(
                        "UPDATE audit_relay SET published_seq = $1 WHERE id"
                        " RETURNING (SELECT last_seq FROM audit_head WHERE id)",
                        cursor,
                    )
                else:
                    head = await conn.fetchval("SELECT last_seq FROM audit_head WHERE id")
                RELAY_LAG.set(head - cursor)
            published += len(facts)
            if len(facts) < self.chunk:
                return published

    async def run(self, idle_s: float = 1.0) -> None:
        backoff = Backoff(initial_s=0.5, maximum_s=30.0)
        while True:
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives as
            # the wake-up does (a request audited just before shutdown), and the relay then
            # runs on while the app waits for it to stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(idle_s):
                    await self._wake.wait()
                    await asyncio.sleep(self.gather_s)
            self._wake.clear()
            try:
                await self.publish_pending()
                backoff.reset()
            except Exception as exc:  # noqa: BLE001 - Kafka or the database down: retry later
                delay = backoff.next_delay()
                log.warning(
                    "audit facts not published yet",
                    error=type(exc).__name__,
                    retry_in_s=round(delay, 2),
                )
                await asyncio.sleep(delay)
