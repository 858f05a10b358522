"""The dispatch ledger rebuilt from the event log (``blindpost replay``).

What the log settles, the rebuild holds: a message with ``dispatch.succeeded`` is 'sent'
and one with a final ``dispatch.failed`` is 'failed', so a work item read again after the
ledger was lost is settled from it, never sent a second time.  A message still unsettled
(in flight, parked) needs what the log never holds: its sealed work item and its retry
time.  The rebuild leaves those out, and its promotion keeps the live ledger's unsettled
rows as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.dispatch.ledger import MIGRATIONS, MIGRATIONS_TABLE
from services.eventstore.shadow import Positions, ReadModel, Row, RowShape, ShadowTable, checked
from shared.events import DispatchAttempted, DispatchFailed, DispatchSucceeded, Event

SETTLED = "state IN ('sent', 'failed')"
LEDGER = RowShape(
    "dispatch_ledger",
    {
        "ext_message_id": "uuid",
        "family": "text",
        "channel": "text",
        "provider": "text",
        "state": "text",
        "attempt": "int4",
        "due_at": "timestamptz",
        "work": "bytea",
        "provider_message_id": "text",
        "segments": "int4",
        "reason": "text",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    ("ext_message_id",),
)
Payload = DispatchAttempted | DispatchSucceeded | DispatchFailed


def _row(event: Event, p: Payload) -> Row:
    return {
        "ext_message_id": event.ext_message_id, "family": p.channel.value,
        "channel": p.channel.value, "provider": p.provider, "state": "sending",
        "attempt": p.attempt, "due_at": None, "work": None, "provider_message_id": None,
        "segments": None, "reason": None, "created_at": event.occurred_at,
        "updated_at": event.occurred_at,
    }


def fold(rows: dict[Any, Row], event: Event) -> None:
    """What ``event`` changes in the ledger rows (keyed by message), as the dispatcher
    changed them: 'sent' is final, 'failed' final unless a send follows."""
    p = event.payload
    if not isinstance(p, Payload):
        return
    row = rows.setdefault(event.ext_message_id, _row(event, p))
    row["updated_at"] = event.occurred_at
    if isinstance(p, DispatchSucceeded):
        row.update(state="sent", attempt=p.attempt, provider=p.provider,
                   provider_message_id=p.provider_message_id, segments=p.segments)
    elif row["state"] == "sent":
        return
    elif isinstance(p, DispatchFailed) and not p.retryable:
        row.update(state="failed", attempt=p.attempt, reason=p.reason)
    elif row["state"] == "sending":
        row.update(attempt=max(row["attempt"], p.attempt), provider=p.provider)


class DispatchLedgerModel(ReadModel):
    name = "dispatch ledger"
    migrations = MIGRATIONS
    migrations_table = MIGRATIONS_TABLE
    tables = (
        ShadowTable(
            "dispatch_ledger",
            ("ext_message_id",),
            (
                "ext_message_id", "family", "channel", "provider", "state", "attempt",
                "provider_message_id", "segments",
                "CASE WHEN state = 'failed' THEN reason END AS failure",
            ),
            covered=SETTLED,
        ),
    )

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[Event]) -> None:
        keys = list(dict.fromkeys((e.ext_message_id,) for e in events
                                  if isinstance(e.payload, Payload)))
        loaded = await LEDGER.load(conn, schema, keys)
        rows = {key[0]: row for key, row in loaded.items()}
        for event in events:
            fold(rows, event)
        await LEDGER.save(conn, schema, list(rows.values()))

    async def finish(self, conn: asyncpg.Connection, schema: str, positions: Positions) -> None:
        await conn.execute(
            f"DELETE FROM {checked(schema)}.dispatch_ledger WHERE NOT ({SETTLED})"  # noqa: S608 - checked
        )

    async def carry_over(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(
            f"INSERT INTO {checked(schema)}.dispatch_ledger "  # noqa: S608 - checked
            f"SELECT * FROM public.dispatch_ledger WHERE NOT ({SETTLED}) "
            "ON CONFLICT (ext_message_id) DO NOTHING"
        )
