"""What operators and auditors ask the event store: one message's timeline with the vault
reads made for it, and messages found by user, uid, status, channel and time."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.eventstore.chain import CONTENT_HASH_KEY, iso
from services.eventstore.tables import state_from_record


async def timeline(conn: asyncpg.Connection, ext_message_id: uuid.UUID) -> dict[str, Any] | None:
    """None when the store has never heard of the message."""
    events = await conn.fetch(
        "SELECT * FROM events WHERE stream_id = $1 ORDER BY version", ext_message_id
    )
    reads = await conn.fetch(
        "SELECT * FROM vault_audit_facts WHERE ext_message_id = $1 ORDER BY at, audit_id",
        str(ext_message_id),
    )
    state = await conn.fetchrow(
        "SELECT * FROM message_state WHERE ext_message_id = $1", ext_message_id
    )
    if not events and not reads:
        return None
    return {
        "ext_message_id": str(ext_message_id),
        "message": state_from_record(state).as_json() if state else None,
        "events": [_event(row) for row in events],
        "vault_reads": [_read(row) for row in reads],
    }


def _event(row: asyncpg.Record) -> dict[str, Any]:
    payload = json.loads(row["payload"])
    item: dict[str, Any] = {
        "version": row["version"],
        "type": row["type"],
        "occurred_at": iso(row["occurred_at"]),
        "producer": row["producer"],
        "event_id": str(row["event_id"]),
        "payload": _shown(payload),
    }
    if CONTENT_HASH_KEY in payload:
        item["content"] = json.loads(row["content"]) if row["content"] is not None else None
        item["content_removed"] = row["content"] is None
    return item


def _shown(payload: dict[str, Any]) -> dict[str, Any]:
    """A resolution ticket (``message.accepted``) admits a vault read until it expires, so
    the timeline shows that one was issued, under which key and until when, never the
    ticket (wire form ``v1.<key id>.<expiry, unix seconds>.<signature>``, shared.tickets)."""
    ticket = payload.get("ticket")
    if not isinstance(ticket, str):
        return payload
    shown = {**payload, "ticket": "issued"}
    parts = ticket.split(".")
    if len(parts) == 4:
        shown["ticket_key_id"] = parts[1]
        try:
            shown["ticket_expires"] = iso(datetime.fromtimestamp(int(parts[2]), UTC))
        except (ValueError, OverflowError, OSError):
            pass  # a ticket intake did not write: that one was issued is all there is to say
    return shown


def _read(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "audit_id": row["audit_id"],
        "at": iso(row["at"]),
        "caller": row["caller"],
        "scope": row["scope"],
        "purpose": row["purpose"],
        "fields": json.loads(row["fields"]),
        "decision": row["decision"],
        "ext_user_id": row["ext_user_id"],
        "request_id": row["request_id"],
    }


@dataclass(frozen=True)
class Filter:
    ext_user_id: str | None = None
    uid: str | None = None
    status: str | None = None
    channel: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


async def find(conn: asyncpg.Connection, query: Filter) -> list[dict[str, Any]]:
    """Messages matching every given criterion, newest first; the time range applies to
    when the message was accepted."""
    conditions, args = [], []
    for column in ("ext_user_id", "uid", "status", "channel"):
        value = getattr(query, column)
        if value is not None:
            args.append(value)
            conditions.append(f"{column} = ${len(args)}")
    if query.since is not None:
        args.append(query.since)
        conditions.append(f"accepted_at >= ${len(args)}")
    if query.until is not None:
        args.append(query.until)
        conditions.append(f"accepted_at < ${len(args)}")
    args.append(query.limit)
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    rows = await conn.fetch(
        # Only fixed column names and placeholders are spliced in; values are parameters.
        f"SELECT * FROM message_state {where}"  # noqa: S608 - see the line above
        f"ORDER BY accepted_at DESC NULLS LAST, ext_message_id LIMIT ${len(args)}",
        *args,
    )
    return [state_from_record(row).as_json() for row in rows]
