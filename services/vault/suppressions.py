"""The suppression list: players not to be sent to again on a channel, because their address
hard-bounced, they complained, they unsubscribed at a provider, or they replied STOP.

Each change is one transaction with its audit row (no audit row, no change), then the
subject's facts (``suppressed``) are published, acknowledged, so intake answers 5.  Each
change is an event on the log too (``suppression_events``: when and why it is published).  The
reporter need not know the player: a bounce or a provider's complaint names a *message*, and
the vault knows whom it gave that message's address to (its own audited read for the
message, ``audit_log_message``), so no other service keeps message-to-player tables.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import asyncpg

from services.vault import audit_store
from services.vault import repository as repo
from services.vault.access import Caller, NotFound, audit_entry
from services.vault.audit import Decision
from services.vault.domain import ContactField, blind_index_input
from services.vault.suppression_events import delete, delete_all, recorded_by
from services.vault.writes import facts_of
from shared.domain import Channel
from shared.events import Event

if TYPE_CHECKING:  # the service erases through clear() below
    from services.vault.service import VaultService


class Reason(StrEnum):
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    STOP = "stop"


@dataclass(frozen=True)
class Suppression:
    channel: Channel
    reason: Reason
    source: str
    ext_message_id: uuid.UUID | None = None
    detail: str | None = None


COLUMNS = "ext_user_id, channel, reason, source, ext_message_id, detail, created_at"


async def recipient_of(conn: asyncpg.Connection, ext_message_id: uuid.UUID) -> str | None:
    """The subject whose address the vault gave out for this message (its allowed read)."""
    value = await conn.fetchval(
        "SELECT ext_user_id FROM audit_log WHERE ext_message_id = $1 AND decision = $2"
        " AND ext_user_id IS NOT NULL ORDER BY seq LIMIT 1",
        ext_message_id,
        Decision.READ.value,
    )
    return str(value) if value is not None else None


async def _refresh(conn: asyncpg.Connection, ext_user_id: str) -> None:
    await conn.execute(
        "UPDATE subjects SET suppressed = ARRAY(SELECT channel FROM suppressions"
        " WHERE ext_user_id = $1 ORDER BY channel), facts_version = facts_version + 1,"
        " updated_at = now() WHERE ext_user_id = $1",
        ext_user_id,
    )


async def clear(conn: asyncpg.Connection, ext_user_id: str, erased_by: str) -> list[Event]:
    """On erasure: a suppression is about an address that no longer exists.  The removals'
    events, to publish before the erasure commits (``suppression_events``)."""
    removed = await delete_all(conn, ext_user_id)
    await conn.execute("UPDATE subjects SET suppressed = '{}' WHERE ext_user_id = $1", ext_user_id)
    return [standing.removed(erased_by, cause="erased") for standing in removed]


class SuppressionList:
    def __init__(self, vault: VaultService) -> None:
        self.vault = vault

    async def record(
        self, caller: Caller, suppression: Suppression, ext_user_id: str | None = None
    ) -> str:
        """Suppress the player named, or else the recipient of the causing message; returns
        the player's ext_user_id.  Recording it again changes nothing."""
        async with self.vault.pool.acquire() as conn, conn.transaction():
            user = ext_user_id
            if user is None and suppression.ext_message_id is not None:
                user = await recipient_of(conn, suppression.ext_message_id)
            subject = await repo.load_subject(conn, user, for_update=True) if user else None
            found = subject is not None and not subject.erased
            added = False
            event = None
            if found:
                added = await self._insert(conn, str(user), suppression)
                event = await self._recorded(conn, str(user), suppression)
            recorded_by = await audit_store.append_audit(
                conn,
                [
                    audit_entry(
                        caller,
                        Decision.WRITTEN if found else Decision.NOT_FOUND,
                        purpose=f"suppression:{suppression.reason.value}",
                        ext_user_id=user,
                        fields=("suppressed",),
                        ext_message_id=suppression.ext_message_id,
                        detail=f"{suppression.channel.value} {suppression.source}"[:200],
                    )
                ],
            )
            stored = await repo.load_subject(conn, str(user)) if added else None
        if stored is not None:
            await self.vault.publisher.subject_facts([facts_of(stored, recorded_by)])
        if event is not None:
            await self.vault.publisher.events([event])
        self.vault.audit_committed()
        if not found:
            raise NotFound(user or str(suppression.ext_message_id))
        return str(user)

    async def record_for_phone(self, caller: Caller, suppression: Suppression, phone: str) -> None:
        """A STOP names a number, not a message: every player holding it (found through the
        blind index, confirmed against the stored number) is suppressed, each audited."""
        wanted = blind_index_input(ContactField.PHONE, phone)
        async with self.vault.pool.acquire() as conn, conn.transaction():
            buckets = self.vault.blind_index.buckets(wanted)
            bucket = await repo.lookup_buckets(conn, ContactField.PHONE, buckets)
            candidates = await repo.load_subjects(conn, bucket, for_update=True)
            holders = [
                u for u in bucket if self.vault.holds(candidates[u], ContactField.PHONE, wanted)
            ]
            added = [u for u in holders if await self._insert(conn, u, suppression)]
            events = [e for u in holders if (e := await self._recorded(conn, u, suppression))]
            recorded = {
                "purpose": f"suppression:{suppression.reason.value}",
                "fields": ("suppressed", "phone"),
                "detail": f"{suppression.channel.value} {suppression.source}"[:200],
            }
            entries = [
                audit_entry(caller, Decision.WRITTEN, ext_user_id=u, **recorded) for u in holders
            ] or [audit_entry(caller, Decision.NOT_FOUND, **recorded)]
            recorded_by = await audit_store.append_audit(conn, entries)
            stored = await repo.load_subjects(conn, added) if added else {}
        if stored:
            await self.vault.publisher.subject_facts(
                [facts_of(s, recorded_by) for s in stored.values()]
            )
        if events:
            await self.vault.publisher.events(events)
        self.vault.audit_committed()
        if not holders:
            raise NotFound("phone")

    @staticmethod
    async def _recorded(conn: asyncpg.Connection, user: str, s: Suppression) -> Event | None:
        return await recorded_by(conn, user, s.channel, s.reason.value, s.ext_message_id)

    async def _insert(self, conn: asyncpg.Connection, user: str, s: Suppression) -> bool:
        added = await conn.fetchval(
            "INSERT INTO suppressions (ext_user_id, channel, reason, source, ext_message_id,"
            " detail) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1",
            user,
            s.channel.value,
            s.reason.value,
            s.source,
            s.ext_message_id,
            s.detail,
        )
        if added:
            await _refresh(conn, user)
        return bool(added)

    async def remove(self, caller: Caller, ext_user_id: str, channel: Channel, why: str) -> None:
        """An operator's decision (the address works again): audited with its reason, and
        on the log (who, and what was removed; the reason stays in the audit log) before it
        commits."""
        async with self.vault.pool.acquire() as conn, conn.transaction():
            removed = await delete(conn, ext_user_id, channel)
            if removed:
                await _refresh(conn, ext_user_id)
            recorded_by = await audit_store.append_audit(
                conn,
                [
                    audit_entry(
                        caller,
                        Decision.WRITTEN if removed else Decision.NOT_FOUND,
                        purpose="suppression-removal",
                        ext_user_id=ext_user_id,
                        fields=("suppressed",),
                        detail=f"{channel.value}: {why}"[:500],
                    )
                ],
            )
            stored = await repo.load_subject(conn, ext_user_id) if removed else None
            if removed:
                await self.vault.publisher.events([removed.removed(caller.name)])
        if stored is not None:
            await self.vault.publisher.subject_facts([facts_of(stored, recorded_by)])
        self.vault.audit_committed()
        if not removed:
            raise NotFound(ext_user_id)

    async def listing(
        self, *, ext_user_id: str | None = None, channel: Channel | None = None, limit: int = 100
    ) -> list[dict[str, object]]:
        rows = await self.vault.pool.fetch(
            f"SELECT {COLUMNS} FROM suppressions"  # noqa: S608 - a constant column list
            " WHERE ($1::text IS NULL OR ext_user_id = $1)"
            " AND ($2::text IS NULL OR channel = $2)"
            " ORDER BY created_at DESC LIMIT $3",
            ext_user_id,
            channel.value if channel else None,
            limit,
        )
        return [
            {
                **dict(row),
                "ext_message_id": str(row["ext_message_id"]) if row["ext_message_id"] else None,
                "created_at": row["created_at"].isoformat(),
            }
            for row in rows
        ]
