"""What is on record about one subject outside its contact data, as plain JSON-ready dicts:
its audit trail (who accessed what, when, why; never a value) and, from the event store, the
messages sent to it with their statuses (no address).  Shared by the erasure report and the
subject access export."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

TRAIL = (
    "SELECT seq, row_hash, at, caller, scope, purpose, decision, fields, ext_message_id,"
    " detail FROM audit_log WHERE ext_user_id = $1 ORDER BY seq"
)
MESSAGES = (
    "SELECT ext_message_id, channel, status, status_times, accepted_at, last_event_at"
    " FROM message_state WHERE ext_user_id = $1 ORDER BY accepted_at"
)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _trail_row(row: asyncpg.Record) -> dict[str, object]:
    return {
        "seq": row["seq"],
        "row_hash": bytes(row["row_hash"]).hex(),
        "at": iso(row["at"]),
        "principal": row["caller"],
        "scope": row["scope"],
        "purpose": row["purpose"],
        "decision": row["decision"],
        "fields": list(row["fields"]),
        "ext_message_id": str(row["ext_message_id"]) if row["ext_message_id"] else None,
        "detail": row["detail"],
    }


async def audit_trail(conn: asyncpg.Connection, ext_user_id: str) -> list[dict[str, object]]:
    return [_trail_row(row) for row in await conn.fetch(TRAIL, ext_user_id)]


def _status_times(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


async def message_states(events_dsn: str | None, ext_user_id: str) -> dict[str, object]:
    """``{"available": True, "messages": [...]}``, or why the event store could not say."""
    if not events_dsn:
        return {"available": False, "why": "no event store configured (DATABASE_URL)"}
    try:
        conn = await asyncpg.connect(events_dsn, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return {"available": False, "why": "the event store was not reachable"}
    try:
        rows = await conn.fetch(MESSAGES, ext_user_id)
    except asyncpg.PostgresError:
        return {"available": False, "why": "the event store has no message states"}
    finally:
        await conn.close()
    messages = [
        {
            "ext_message_id": str(row["ext_message_id"]),
            "channel": row["channel"],
            "status": row["status"],
            "status_times": _status_times(row["status_times"]),
            "accepted_at": iso(row["accepted_at"]),
            "last_event_at": iso(row["last_event_at"]),
        }
        for row in rows
    ]
    return {"available": True, "messages": messages}
