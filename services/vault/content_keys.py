"""Players' content keys: a random 256-bit key per ``ext_user_id`` and period, under which
intake seals the subject, body and extension of every message to that player accepted in
that period, and the dispatchers open them (``shared.content_sealing``; the sealed content
names its key's id).  Erasure deletes every key of the player, so every copy of that
content — the topics, the event store, the dispatch ledgers and their backups — stops
opening at once; ``blindpost vault expire-content-keys`` deletes the keys whose period ended
longer than the content retention ago (``services/vault/content_key_expiry.py``).

Periods are ``period_days`` long, counted in UTC from 1970-01-01.  A key is stored wrapped
by the active KEK like a data key (``Keyring.wrap``), under key version 0 in the associated
data: data keys are numbered from 1, so a wrapped content key never opens as a data key, nor
one as the other.  Keys exist per ``ext_user_id``, not per stored subject: a preview goes to
a player the vault may not know yet.  Each key handed out is audited (``read`` of the field
``content_key``, with the caller's purpose), in the same transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from services.vault import audit_store
from services.vault.access import Caller, audit_entry, now
from services.vault.audit import AuditEntry, Decision
from services.vault.crypto import IntegrityError, Keyring, new_dek
from services.vault.group_commit import GroupCommit
from services.vault.metrics import INTEGRITY_FAILURES
from shared.logging import get_logger
from shared.sealing import b64e

log = get_logger(__name__)

CONTENT_KEY_VERSION = 0
FIELD = "content_key"
# Intake seals (a key is made on first use); a dispatcher only opens (never makes one).
PURPOSES = {"content-seal": True, "content-render": False}
_ORIGIN = datetime(1970, 1, 1, tzinfo=UTC)
# A wanted key: the player's, and the key's id (None: the one sealing uses now).
Wanted = tuple[str, str | None]


def period_of(at: datetime, days: int) -> tuple[datetime, datetime]:
    """The period ``at`` falls in: its start and its end (exclusive)."""
    length = timedelta(days=days)
    start = _ORIGIN + length * ((at - _ORIGIN) // length)
    return start, start + length


async def destroy(conn: asyncpg.Connection, ext_user_id: str) -> str | None:
    """Erasure: every key of the player goes.  Returns the KEKs that wrapped them, now or
    before (a backup may hold them under any), comma-separated; None: there was none."""
    keks = await conn.fetchval(
        "WITH gone AS (DELETE FROM content_keys WHERE ext_user_id = $1"
        " RETURNING kek_history || kek_id AS keks)"
        " SELECT array_agg(DISTINCT kek ORDER BY kek) FROM gone, unnest(gone.keks) AS kek",
        ext_user_id,
    )
    return ", ".join(keks) if keks else None


@dataclass(frozen=True)
class _Call:
    caller: Caller
    purpose: str
    wanted: list[Wanted]


class ContentKeys:
    def __init__(
        self,
        pool: asyncpg.Pool,
        keyring: Keyring,
        audit_committed: Callable[[], None],
        period_days: int = 7,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.pool = pool
        self.keyring = keyring
        self.audit_committed = audit_committed
        self.period_days = period_days
        self.clock = clock
        # Calls that arrive while one is in its transaction share the next (as the
        # resolver's reads do): a transaction, its locks and one audit append for them all.
        self._calls: GroupCommit[_Call, list[dict[str, object]]] = GroupCommit(
            self._hand_out_calls, max_items=16
        )

    async def hand_out(
        self, caller: Caller, purpose: str, wanted: list[Wanted]
    ) -> list[dict[str, object]]:
        """One answer per wanted key: ``ok`` with ``key_id`` and ``key`` (base64url),
        ``erased``, ``no_key`` (never made, or destroyed: erased or expired) or
        ``integrity_failure``; each audited before it is returned.  A key asked for by id is
        answered only to its own player; without an id, the key of the current period."""
        wanted = sorted(set(wanted), key=_order)
        return await self._calls.submit(_Call(caller, purpose, wanted))

    async def _hand_out_calls(self, calls: list[_Call]) -> list[list[dict[str, object]]]:
        every = sorted({want for call in calls for want in call.wanted}, key=_order)
        users = sorted({user for user, _ in every})
        async with self.pool.acquire() as conn, conn.transaction():
            # Shared locks: an erasure running now (FOR UPDATE) is either before this or after.
            erased = {
                row["ext_user_id"]
                for row in await conn.fetch(
                    "SELECT ext_user_id, erased_at FROM subjects"
                    " WHERE ext_user_id = ANY($1::text[]) FOR SHARE",
                    users,
                )
                if row["erased_at"] is not None
            }
            at = self.clock()
            sealing = {user for call in calls if PURPOSES[call.purpose] for user, _ in call.wanted}
            created: set[str] = set()
            if sealing - erased:
                created = await self._create(conn, sorted(sealing - erased), at)
            stored = await self._stored(conn, every, at)
            answers, entries = [], []
            for call in calls:
                results = []
                for want in call.wanted:
                    answer, entry = self._answer(call, want, erased, stored, at, created)
                    results.append(answer)
                    entries.append(entry)
                answers.append(results)
            await audit_store.append_audit(conn, entries)
        self.audit_committed()
        return answers

    async def _create(self, conn: asyncpg.Connection, users: list[str], at: datetime) -> set[str]:
        """Keys of the current period for those who have none; a key another replica made
        meanwhile stands."""
        start, end = period_of(at, self.period_days)
        wrapped = {user: self.keyring.wrap(new_dek(), user, CONTENT_KEY_VERSION) for user in users}
        # The KEK named is the one that wrapped the bytes (an epoch may turn meanwhile).
        rows = [
            (user, secrets.token_hex(8), self.keyring.kek_id_of(key), key)
            for user, key in wrapped.items()
        ]
        made = (
            await conn.fetch(
                "INSERT INTO content_keys"
                " (ext_user_id, key_id, kek_id, wrapped_key, period_start, period_end)"
                " SELECT *, $5::timestamptz, $6::timestamptz"
                " FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[])"
                " ON CONFLICT (ext_user_id, period_start, period_end) DO NOTHING"
                " RETURNING ext_user_id",
                *(list(column) for column in zip(*rows, strict=True)),
                start,
                end,
            )
            if rows
            else []
        )
        return {row["ext_user_id"] for row in made}

    async def _stored(
        self, conn: asyncpg.Connection, wanted: list[Wanted], at: datetime
    ) -> dict[Wanted, asyncpg.Record]:
        by_id = [key_id for _, key_id in wanted if key_id is not None]
        current = [user for user, key_id in wanted if key_id is None]
        stored: dict[Wanted, asyncpg.Record] = {}
        # A dispatcher asks by id, intake for current keys: a query with nothing to ask is
        # not sent (a round trip each).
        if by_id:
            for row in await conn.fetch(
                "SELECT ext_user_id, key_id, wrapped_key FROM content_keys"
                " WHERE key_id = ANY($1::text[])",
                by_id,
            ):
                stored[(row["ext_user_id"], row["key_id"])] = row
        # The key sealing uses now: the newest of the player's whose period has begun (the
        # current one once intake asked; until then, a dispatcher from before key ids asking
        # for the key its content names gets the last one made).
        if current:
            for row in await conn.fetch(
                "SELECT DISTINCT ON (ext_user_id) ext_user_id, key_id, wrapped_key, period_end"
                " FROM content_keys WHERE ext_user_id = ANY($1::text[]) AND period_start <= $2"
                " ORDER BY ext_user_id, period_start DESC, period_end DESC",
                current,
                at,
            ):
                stored[(row["ext_user_id"], None)] = row
        return stored

    def _answer(
        self,
        call: _Call,
        want: Wanted,
        erased: set[str],
        stored: dict[Wanted, asyncpg.Record],
        at: datetime,
        created: set[str],
    ) -> tuple[dict[str, object], AuditEntry]:
        user, key_id = want
        purpose = call.purpose
        row = stored.get(want)
        if row is not None and key_id is None and PURPOSES[purpose] and row["period_end"] <= at:
            row = None  # never seals under a period over
        answer: dict[str, object] = {"ext_user_id": user}
        if key_id is not None:
            answer["key_id"] = key_id
        recorded: dict[str, object] = {"purpose": purpose, "ext_user_id": user}
        if user in erased:
            answer["status"], decision = "erased", Decision.ERASED_SUBJECT
        elif row is None:
            answer["status"], decision = "no_key", Decision.NOT_FOUND
        else:
            try:
                key = self.keyring.unwrap(row["wrapped_key"], user, CONTENT_KEY_VERSION)
            except IntegrityError as exc:
                log.error("content key does not open", ext_user_id=user, error=str(exc))
                INTEGRITY_FAILURES.labels("content keys").inc()
                answer["status"], decision = "integrity_failure", Decision.INTEGRITY_FAILURE
            else:
                answer.update(status="ok", key_id=row["key_id"], key=b64e(key))
                decision = Decision.READ
                recorded["fields"] = (FIELD,)
                # The first to get a key made says so; a call after it in the group found it.
                recorded["detail"] = "created" if user in created and PURPOSES[purpose] else None
                if recorded["detail"]:
                    created.discard(user)
        return answer, audit_entry(call.caller, decision, **recorded)


def _order(want: Wanted) -> tuple[str, str]:
    return want[0], want[1] or ""
