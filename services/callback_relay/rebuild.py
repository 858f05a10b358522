"""The relay's store rebuilt from the event log (``blindpost replay``).

The relay itself reads only what must be called back and skips its own ``callback.*``
events; a rebuild reads those too, so a status already delivered (or given up on) stays so
and Smartico is not called again.  The transitions mirror the relay's: a status event opens
a pending callback, ``callback.attempted`` counts an attempt, ``callback.delivered`` and
``callback.dead_lettered`` settle a pending one, ``dead_letter.redriven`` reopens a dead one
(``blindpost dlq redrive``).  A pending callback is due at once after the rebuild.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.callback_relay.domain import facts_from, status_from
from services.callback_relay.store import MIGRATION_TABLE, MIGRATIONS
from services.eventstore.shadow import Positions, ReadModel, Row, RowShape, ShadowTable, checked
from shared.events import (
    CallbackAttempted,
    CallbackDeadLettered,
    CallbackDelivered,
    DeadLetterRedriven,
    Event,
)

MESSAGES = RowShape(
    "callback_messages",
    {"ext_message_id": "uuid", "channel": "text", "callback_url": "text"},
    ("ext_message_id",),
)
OUTBOX = RowShape(
    "callback_outbox",
    {
        "ext_message_id": "uuid",
        "status": "text",
        "state": "text",
        "attempts": "int4",
        "first_seen_at": "timestamptz",
        "next_attempt_at": "timestamptz",
        "last_error": "text",
        "finished_at": "timestamptz",
    },
    ("ext_message_id", "status"),
)
Key = tuple[Any, ...]


def _pending(mid: uuid.UUID, status: str, event: Event) -> Row:
    at = event.occurred_at
    return {
        "ext_message_id": mid, "status": status, "state": "pending", "attempts": 0,
        "first_seen_at": at, "next_attempt_at": at, "last_error": None, "finished_at": None,
    }


def fold(outbox: dict[Key, Row], event: Event) -> None:
    """What ``event`` changes in the outbox rows (keyed by message and status)."""
    mid, at, p = event.ext_message_id, event.occurred_at, event.payload
    if status := status_from(event):
        outbox.setdefault((mid, status.value), _pending(mid, status.value, event))
        return
    if not isinstance(p, CallbackAttempted | CallbackDelivered | CallbackDeadLettered):
        if isinstance(p, DeadLetterRedriven) and p.status:
            row = outbox.get((mid, p.status.value))
            if row and row["state"] == "dead":  # a fresh retry period, due now
                row.update(state="pending", first_seen_at=at, next_attempt_at=at,
                           finished_at=None)
        return
    row = outbox.get((mid, p.status.value))
    if row is None or row["state"] != "pending":  # the relay settles only pending ones
        return
    if isinstance(p, CallbackAttempted):
        row.update(attempts=max(row["attempts"], p.attempt), last_error=p.error)
    elif isinstance(p, CallbackDelivered):
        row.update(state="delivered", attempts=max(row["attempts"], p.attempts),
                   last_error=None, finished_at=at)
    else:
        row.update(state="dead", attempts=max(row["attempts"], p.attempts),
                   last_error=p.reason, finished_at=at)


def _touched(event: Event) -> Key | None:
    if status := status_from(event):
        return (event.ext_message_id, status.value)
    status = getattr(event.payload, "status", None)
    return (event.ext_message_id, status.value) if status else None


class CallbackStoreModel(ReadModel):
    name = "callback relay store"
    migrations = MIGRATIONS
    migrations_table = MIGRATION_TABLE
    tables = (
        ShadowTable("callback_messages", ("ext_message_id",),
                    ("ext_message_id", "channel", "callback_url")),
        ShadowTable("callback_outbox", ("ext_message_id", "status"),
                    ("ext_message_id", "status", "state", "attempts")),
        # Where the relay resumes reading: not compared (the rebuild's is where it read).
        ShadowTable("callback_offsets", ("topic", "partition"), (), covered="false"),
    )

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[Event]) -> None:
        messages: dict[uuid.UUID, Row] = {}
        for event in events:
            if facts := facts_from(event):
                messages.setdefault(event.ext_message_id, {
                    "ext_message_id": event.ext_message_id,
                    "channel": facts.channel.value,
                    "callback_url": facts.callback_url,
                })
        keys = list(dict.fromkeys(k for e in events if (k := _touched(e))))
        outbox = await OUTBOX.load(conn, schema, keys)
        for event in events:
            fold(outbox, event)
        await MESSAGES.save(conn, schema, list(messages.values()), update=False)
        await OUTBOX.save(conn, schema, list(outbox.values()))

    async def finish(self, conn: asyncpg.Connection, schema: str, positions: Positions) -> None:
        ordered = sorted(positions.items())
        await conn.execute(
            f"INSERT INTO {checked(schema)}.callback_offsets (topic, partition, next_offset) "  # noqa: S608 - checked
            "SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[])",
            [t for (t, _), _ in ordered],
            [p for (_, p), _ in ordered],
            [o for _, o in ordered],
        )
