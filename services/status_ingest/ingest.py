"""From verified provider reports to ``status.reported`` events on the event log.

Each webhook is one PostgreSQL transaction: its nonce is remembered (a second arrival is a
replay), reports that name only the provider's message id are matched through the
``provider_messages`` table or parked, and the events are on the broker before the
transaction commits — a failure rolls the nonce back, so the provider's retry is accepted.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
from prometheus_client import Counter

from services.status_ingest.mapping import UnknownStatus, smartico_status
from services.status_ingest.providers.base import StatusReport
from services.status_ingest.senders import dispatchers_reported_by
from services.status_ingest.unapplied import not_applied, sanitised
from shared.domain import SmarticoStatus
from shared.events import Event, StatusNotAppliedOutcome, StatusReported
from shared.kafka import RecoveringProducer
from shared.logging import get_logger
from shared.topics import Topics

log = get_logger(__name__)
PRODUCER = "status-ingest"
MIGRATIONS = Path(__file__).parent / "migrations"

REPORTS = Counter(
    "blindpost_status_reports_total",
    "Provider status reports by outcome (reported, parked, ignored, unknown, unmatched)",
    ["provider", "outcome"],
)


MIGRATIONS_TABLE = "status_ingest_schema_migrations"


def status_event(
    ext_message_id: uuid.UUID,
    provider: str,
    provider_status: str,
    status: SmarticoStatus,
    event_key: str,
    provider_message_id: str | None = None,
    reported_at: object = None,
    detail: str | None = None,
) -> Event:
    return Event.create(
        ext_message_id,
        StatusReported(
            provider=provider,
            provider_status=provider_status[:60],
            status=status,
            provider_message_id=provider_message_id,
            reported_at=reported_at,  # type: ignore[arg-type]
            detail=detail,
        ),
        PRODUCER,
        discriminator=(provider, event_key),
    )


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


# One round trip for a batch's locks, taken in the order of their keys (every caller takes
# them so: no deadlock, even when two ids share a key).
_LOCK_IDS = (
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(id, 42) AS k"
    " FROM unnest($1::text[]) AS id ORDER BY k) AS keys"
)


async def lock_ids(conn: asyncpg.Connection, provider_message_ids: Sequence[str]) -> None:
    """Serialises matching and parking per provider id."""
    if provider_message_ids:
        await conn.execute(_LOCK_IDS, list(provider_message_ids))


async def publish(producer: RecoveringProducer, topic: str, events: Sequence[Event]) -> None:
    futures = [await producer.send(topic, e.to_bytes(), key=e.key) for e in events]
    for future in futures:
        await future


def _known_id(known: dict[tuple[str, str], uuid.UUID], report: StatusReport) -> uuid.UUID | None:
    """Only a message this provider (or one it reports for) sent: ids are not global."""
    if not report.provider_message_id:
        return None
    for sender in dispatchers_reported_by(report.provider):
        if found := known.get((sender, report.provider_message_id)):
            return found
    return None


class StatusIngest:
    """``pool`` and ``producer`` are attached when the app starts (handlers exist before)."""

    pool: asyncpg.Pool
    producer: RecoveringProducer

    def __init__(self, topics: Topics) -> None:
        self.topics = topics

    def attach(self, pool: asyncpg.Pool, producer: RecoveringProducer) -> None:
        self.pool = pool
        self.producer = producer

    async def accept(self, provider: str, nonce: str, reports: Sequence[StatusReport]) -> bool:
        """False when ``nonce`` was seen before (a replay): nothing is recorded."""
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await conn.fetchval(
                "INSERT INTO webhook_nonces (provider, nonce) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                provider,
                nonce,
            )
            if not fresh:
                return False
            await self._record(conn, reports)
        return True

    async def record(self, reports: Sequence[StatusReport]) -> None:
        """For reports of our own (tracking), which carry no provider nonce."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self._record(conn, reports)

    async def _record(self, conn: asyncpg.Connection, reports: Sequence[StatusReport]) -> None:
        wanted: list[tuple[StatusReport, SmarticoStatus | None, StatusNotAppliedOutcome]] = []
        for report in reports:
            try:
                status = smartico_status(report.provider, report.provider_status)
            except UnknownStatus:
                REPORTS.labels(report.provider, "unknown").inc()
                log.warning(
                    "unknown provider status ignored",
                    provider=report.provider,
                    provider_status=sanitised(report.provider_status),
                )
                wanted.append((report, None, "unknown"))
                continue
            if status is None:
                REPORTS.labels(report.provider, "ignored").inc()
            wanted.append((report, status, "ignored"))
        to_match = [
            r.provider_message_id
            for r, _, _ in wanted
            if not _uuid(r.ext_message_id) and r.provider_message_id
        ]
        await lock_ids(conn, [pmid for pmid in to_match if pmid])
        known: dict[tuple[str, str], uuid.UUID] = {}
        if to_match:
            rows = await conn.fetch(
                "SELECT provider, provider_message_id, ext_message_id FROM provider_messages"
                " WHERE provider_message_id = ANY($1::text[])",
                to_match,
            )
            known = {(r["provider"], r["provider_message_id"]): r["ext_message_id"] for r in rows}
        events = []
        for report, status, outcome in wanted:
            mid = _uuid(report.ext_message_id) or _known_id(known, report)
            if status is None:
                events.append(_not_applied(report, outcome, mid))
                continue
            if mid is None and report.provider_message_id:
                await _park(conn, report, status)
                REPORTS.labels(report.provider, "parked").inc()
                continue
            if mid is None:
                REPORTS.labels(report.provider, "unmatched").inc()
                log.warning("status names no message", provider=report.provider)
                events.append(_not_applied(report, "unmatched", None))
                continue
            events.append(
                status_event(
                    mid,
                    report.provider,
                    report.provider_status,
                    status,
                    report.event_key,
                    report.provider_message_id,
                    report.reported_at,
                    report.detail,
                )
            )
            REPORTS.labels(report.provider, "reported").inc()
        await publish(self.producer, self.topics.message_events, events)

    async def prune(self, nonce_age_s: float, parked_age_s: float) -> tuple[int, int]:
        """Forgets old nonces, and expires statuses parked longer than ``parked_age_s``:
        each one a ``status.not_applied`` event, on the broker before the delete commits."""
        nonces = await self.pool.execute(
            "DELETE FROM webhook_nonces WHERE seen_at < now() - make_interval(secs => $1)",
            nonce_age_s,
        )
        async with self.pool.acquire() as conn, conn.transaction():
            expired = await conn.fetch(
                "DELETE FROM parked_statuses WHERE parked_at < now() - make_interval(secs => $1)"
                " RETURNING provider, event_key, provider_message_id, provider_status",
                parked_age_s,
            )
            events = [
                not_applied(
                    "expired",
                    row["provider"],
                    row["provider_status"],
                    row["event_key"],
                    provider_message_id=row["provider_message_id"],
                )
                for row in expired
            ]
            await publish(self.producer, self.topics.message_events, events)
        return int(nonces.split()[-1]), len(expired)


def _not_applied(
    report: StatusReport, outcome: StatusNotAppliedOutcome, mid: uuid.UUID | None
) -> Event:
    return not_applied(
        outcome,
        report.provider,
        report.provider_status,
        report.event_key,
        mid,
        report.provider_message_id,
    )


async def _park(conn: asyncpg.Connection, report: StatusReport, status: SmarticoStatus) -> None:
    await conn.execute(
        "INSERT INTO parked_statuses (provider, event_key, provider_message_id,"
        " provider_status, status, reported_at, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        report.provider,
        report.event_key,
        report.provider_message_id,
        report.provider_status,
        status.value,
        report.reported_at,
        report.detail,
    )
