"""Body retention: message content is not kept forever.

Removal goes through the log like every other fact: for each message whose body is older
than the retention period, a ``message.body_redacted`` event is published (its id is fixed
per message, so publishing it twice stores it once).  The projector, storing that event,
sets the content column of the stream's rows to NULL in the same transaction.  The chain
covers the content's hash, not the content, so it still verifies; the lifecycle stays.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client import Counter

from shared.events import Event, MessageBodyRedacted
from shared.kafka import RecoveringProducer
from shared.logging import get_logger

log = get_logger(__name__)
PRODUCER = "blindpost-projector"

REDACTIONS = Counter(
    "blindpost_retention_redactions_published_total",
    "message.body_redacted events published for bodies past the retention period",
)


async def due_for_redaction(
    conn: asyncpg.Connection, cutoff: datetime, limit: int
) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT stream_id FROM events WHERE content IS NOT NULL AND occurred_at < $1 "
        "ORDER BY occurred_at LIMIT $2",
        cutoff,
        limit,
    )
    return list(dict.fromkeys(row["stream_id"] for row in rows))


def redaction_event(ext_message_id: uuid.UUID, days: int, now: datetime) -> Event:
    # The id depends only on the message: published twice, stored once.
    payload = MessageBodyRedacted(retention_days=days)
    return Event.create(ext_message_id, payload, PRODUCER, occurred_at=now)


async def publish_redactions(
    pool: asyncpg.Pool,
    producer: RecoveringProducer,
    topic: str,
    days: int,
    *,
    limit: int = 10_000,
    now: datetime | None = None,
) -> int:
    """Publishes one redaction event per message whose body is due; returns how many."""
    now = now or datetime.now(UTC)
    async with pool.acquire() as conn:
        due = await due_for_redaction(conn, now - timedelta(days=days), limit)
    futures = []
    for ext_message_id in due:
        event = redaction_event(ext_message_id, days, now)
        futures.append(await producer.send(topic, event.to_bytes(), key=event.key))
    for future in futures:
        await future
    REDACTIONS.inc(len(due))
    if due:
        log.info("message bodies due for removal", messages=len(due), retention_days=days)
    return len(due)


async def run_periodically(
    pool: asyncpg.Pool, producer: RecoveringProducer, topic: str, days: int, interval_s: float,
    limit: int,
) -> None:
    while True:
        try:
            await publish_redactions(pool, producer, topic, days, limit=limit)
        except Exception as exc:  # noqa: BLE001 - retried at the next interval
            log.warning("retention pass failed", error=type(exc).__name__)
        await asyncio.sleep(interval_s)
