"""``blindpost vault expire-content-keys``, run on a schedule (the chart's CronJob, hourly):
destroys every content key whose period ended longer than the content retention ago
(``BLINDPOST_BODY_RETENTION_DAYS``, the number the event store removes bodies after), so
content sealed under it stops opening on the 400-day topic, in the dispatch ledgers and in
backups (once their KEK epochs go) about when the event store drops its own copy: between
the retention and the retention plus one period after it was accepted, never before (less
the few seconds intake may reuse a key it was handed just before its period ended).

A command of its own, not a step of ``rotate-epochs``: it needs neither the KEK epochs nor
their volume (the vault may run without epochs), and it runs more often than epochs turn.
Each key destroyed leaves an audit row (decision ``expired``, field ``content_key``, the
period, the key id and the KEKs that wrapped it: no content, no address) in the transaction
that deletes it; the audit relay publishes it to the vault's audit topic like every row.
Batches commit one by one, so a run stopped half-way is completed by the next; a second run
finds nothing to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from services.vault import audit_store
from services.vault.access import Caller, Scope, audit_entry
from services.vault.audit import Decision
from services.vault.content_keys import FIELD

PURPOSE = "content-retention"


async def expire_content_keys(
    dsn: str,
    caller: str,
    retention_days: int,
    *,
    now: datetime | None = None,
    batch_size: int = 1000,
) -> int:
    """Destroys the content keys past the retention; returns how many."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    operator = Caller(caller, Scope.ADMIN, "expire-content-keys")
    conn = await asyncpg.connect(dsn)
    try:
        destroyed = 0
        while True:
            async with conn.transaction():
                rows = await conn.fetch(
                    """DELETE FROM content_keys WHERE key_id IN (
                           SELECT key_id FROM content_keys WHERE period_end <= $1
                           ORDER BY period_end LIMIT $2 FOR UPDATE SKIP LOCKED)
                       RETURNING ext_user_id, key_id, period_start, period_end,
                                 kek_history || kek_id AS keks""",
                    cutoff,
                    batch_size,
                )
                if not rows:
                    return destroyed
                await audit_store.append_audit(
                    conn,
                    [
                        audit_entry(
                            operator,
                            Decision.EXPIRED,
                            ext_user_id=row["ext_user_id"],
                            purpose=PURPOSE,
                            fields=(FIELD,),
                            detail=_detail(row, retention_days),
                        )
                        for row in rows
                    ],
                )
            destroyed += len(rows)
    finally:
        await conn.close()


def _detail(row: asyncpg.Record, retention_days: int) -> str:
    return (
        f"content key {row['key_id']} of {row['period_start'].isoformat()}"
        f"..{row['period_end'].isoformat()} destroyed after {retention_days} days"
        f" (wrapped by KEK {', '.join(row['keks'])})"
    )
