"""Each change of the suppression list is an event on the log, with no address and no
operator's free text: ``suppression.recorded`` and ``suppression.removed``
(``shared/events/suppressions.py``).  On the stream of the message that caused the
suppression when one did, so that message's timeline shows it; else on the suppression's own
stream (``suppression_id_for``: a player and a channel).

Crash ordering:

- *Recorded*: published once the change has committed.  A reporter whose call failed calls
  again (status ingest's feed retries, Twilio retries a 5xx); the row then stands as this
  report made it, so its event is published again with the same id (the row's time is in
  it), and stored once.  A report on a player already suppressed for another reason or
  message changed nothing and publishes nothing.
- *Removed*: published before the removal commits, so no removal escapes the log: if the
  log cannot take it, the removal is rolled back and the operator runs it again.  Should the
  commit fail after the event went out, the operator's second run publishes the same id.
  An erasure removes every suppression of the player the same way (``cause`` ``erased``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.domain import Channel
from shared.events import Event, SuppressionRecorded, SuppressionRemoved, suppression_id_for

PRODUCER = "vault"
ROW = "reason, source, ext_message_id, created_at"
_PLAYER = "FROM suppressions WHERE ext_user_id = $1"
_WHERE = f"{_PLAYER} AND channel = $2"
_STANDING = f"SELECT {ROW} {_WHERE}"
_DELETE = f"DELETE {_WHERE} RETURNING {ROW}"
_DELETE_ALL = f"DELETE {_PLAYER} RETURNING channel, {ROW}"


@dataclass(frozen=True)
class Standing:
    """A row of the suppression list, as it stands."""

    ext_user_id: str
    channel: Channel
    reason: str
    source: str
    ext_message_id: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, ext_user_id: str, channel: Channel, row: asyncpg.Record) -> Standing:
        return cls(
            ext_user_id,
            channel,
            row["reason"],
            row["source"],
            row["ext_message_id"],
            row["created_at"],
        )

    @property
    def stream(self) -> uuid.UUID:
        return self.ext_message_id or suppression_id_for(self.ext_user_id, self.channel)

    def event(self, payload: SuppressionRecorded | SuppressionRemoved) -> Event:
        # The row's time tells this suppression from an earlier one, removed since.
        return Event.create(
            self.stream,
            payload,
            PRODUCER,
            discriminator=(self.channel.value, self.created_at.isoformat()),
        )

    def recorded(self) -> Event:
        return self.event(
            SuppressionRecorded(
                channel=self.channel,
                ext_user_id=self.ext_user_id,
                reason=self.reason,
                source=self.source,
                caused_by=self.ext_message_id,
            )
        )

    def removed(self, removed_by: str, cause: str = "operator") -> Event:
        return self.event(
            SuppressionRemoved(
                channel=self.channel,
                ext_user_id=self.ext_user_id,
                reason=self.reason,
                removed_by=removed_by,
                caused_by=self.ext_message_id,
                cause=cause,
            )
        )


async def standing(conn: asyncpg.Connection, ext_user_id: str, channel: Channel) -> Standing | None:
    return await _one(conn, _STANDING, ext_user_id, channel)


async def recorded_by(
    conn: asyncpg.Connection,
    ext_user_id: str,
    channel: Channel,
    reason: str,
    ext_message_id: uuid.UUID | None,
) -> Event | None:
    """The event of the suppression standing for this player and channel, if this report
    (its reason and message) is what put it there: the first time, or a retry."""
    row = await standing(conn, ext_user_id, channel)
    if row is None or (row.reason, row.ext_message_id) != (reason, ext_message_id):
        return None
    return row.recorded()


async def delete(conn: asyncpg.Connection, ext_user_id: str, channel: Channel) -> Standing | None:
    """Removes the suppression; what it was, or None when there was none."""
    return await _one(conn, _DELETE, ext_user_id, channel)


async def delete_all(conn: asyncpg.Connection, ext_user_id: str) -> list[Standing]:
    """Removes every suppression of the player (an erasure); what they were."""
    rows = await conn.fetch(_DELETE_ALL, ext_user_id)
    return [Standing.of(ext_user_id, Channel(row["channel"]), row) for row in rows]


async def _one(
    conn: asyncpg.Connection, sql: str, ext_user_id: str, channel: Channel
) -> Standing | None:
    row = await conn.fetchrow(sql, ext_user_id, channel.value)
    return Standing.of(ext_user_id, channel, row) if row is not None else None
