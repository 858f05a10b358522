"""Players' content keys: one random 256-bit key per ``ext_user_id``, under which intake seals
the subject, body and extension of every message to that player and the dispatchers open them
(``shared.content_sealing``).  Erasure deletes the key, so every copy of that content — the
topics, the event store, the dispatch ledgers and their backups — stops opening at once.

A key is stored wrapped by the active KEK like a data key (``Keyring.wrap``), under key
version 0 in the associated data: data keys are numbered from 1, so a wrapped content key
never opens as a data key, nor one as the other.  Keys exist per ``ext_user_id``, not per
stored subject: a preview goes to a player the vault may not know yet.  Each key handed out
is audited (``read`` of the field ``content_key``, with the caller's purpose), in the same
transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import asyncpg

from services.vault import audit_store
from services.vault.access import Caller, audit_entry
from services.vault.audit import AuditEntry, Decision
from services.vault.crypto import IntegrityError, Keyring, new_dek
from services.vault.metrics import INTEGRITY_FAILURES
from shared.logging import get_logger
from shared.sealing import b64e

log = get_logger(__name__)

CONTENT_KEY_VERSION = 0
FIELD = "content_key"
# Intake seals (a key is made on first use); a dispatcher only opens (never makes one).
PURPOSES = {"content-seal": True, "content-render": False}


async def destroy(conn: asyncpg.Connection, ext_user_id: str) -> str | None:
    """Erasure: the key goes.  Returns the KEK that wrapped it (None: there was none)."""
    kek_id: str | None = await conn.fetchval(
        "DELETE FROM content_keys WHERE ext_user_id = $1 RETURNING kek_id", ext_user_id
    )
    return kek_id


async def rewrap_all(conn: asyncpg.Connection, keyring: Keyring, batch_size: int) -> int:
    """``blindpost vault rotate-kek`` for content keys: each under the active KEK, batch by
    batch (each commits), never a sealed content touched."""
    done = 0
    while True:
        async with conn.transaction():
            rows = await conn.fetch(
                "SELECT ext_user_id, wrapped_key FROM content_keys WHERE kek_id <> $1"
                " ORDER BY ext_user_id LIMIT $2 FOR UPDATE SKIP LOCKED",
                keyring.active_id,
                batch_size,
            )
            if not rows:
                return done
            await conn.executemany(
                "UPDATE content_keys SET wrapped_key = $2, kek_id = $3 WHERE ext_user_id = $1",
                [
                    (
                        row["ext_user_id"],
                        rewrapped,
                        keyring.kek_id_of(rewrapped),
                    )
                    for row in rows
                    for rewrapped in [
                        keyring.rewrap(
                            bytes(row["wrapped_key"]), row["ext_user_id"], CONTENT_KEY_VERSION
                        )
                    ]
                ],
            )
        done += len(rows)


class ContentKeys:
    def __init__(
        self, pool: asyncpg.Pool, keyring: Keyring, audit_committed: Callable[[], None]
    ) -> None:
        self.pool = pool
        self.keyring = keyring
        self.audit_committed = audit_committed

    async def hand_out(
        self, caller: Caller, purpose: str, ext_user_ids: list[str]
    ) -> list[dict[str, object]]:
        """One answer per player: ``ok`` with ``key_id`` and ``key`` (base64url), ``erased``,
        ``no_key`` or ``integrity_failure``; each audited before it is returned."""
        users = sorted(set(ext_user_ids))
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
            created: set[str] = set()
            if PURPOSES[purpose]:
                created = await self._create(conn, [u for u in users if u not in erased])
            stored = {
                row["ext_user_id"]: row
                for row in await conn.fetch(
                    "SELECT ext_user_id, key_id, wrapped_key FROM content_keys"
                    " WHERE ext_user_id = ANY($1::text[])",
                    users,
                )
            }
            answers, entries = [], []
            for user in users:
                answer, entry = self._answer(caller, purpose, user, erased, stored, created)
                answers.append(answer)
                entries.append(entry)
            await audit_store.append_audit(conn, entries)
        self.audit_committed()
        return answers

    async def _create(self, conn: asyncpg.Connection, users: list[str]) -> set[str]:
        """Keys for those who have none; a key another replica made meanwhile stands."""
        wrapped = {user: self.keyring.wrap(new_dek(), user, CONTENT_KEY_VERSION) for user in users}
        # The KEK named is the one that wrapped the bytes (an epoch may turn meanwhile).
        rows = [
            (user, secrets.token_hex(8), self.keyring.kek_id_of(key), key)
            for user, key in wrapped.items()
        ]
        made = (
            await conn.fetch(
                "INSERT INTO content_keys (ext_user_id, key_id, kek_id, wrapped_key)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[])"
                " ON CONFLICT (ext_user_id) DO NOTHING RETURNING ext_user_id",
                *(list(column) for column in zip(*rows, strict=True)),
            )
            if rows
            else []
        )
        return {row["ext_user_id"] for row in made}

    def _answer(
        self,
        caller: Caller,
        purpose: str,
        user: str,
        erased: set[str],
        stored: dict[str, asyncpg.Record],
        created: set[str],
    ) -> tuple[dict[str, object], AuditEntry]:
        row = stored.get(user)
        answer: dict[str, object] = {"ext_user_id": user}
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
                recorded["detail"] = "created" if user in created else None
        return answer, audit_entry(caller, decision, **recorded)
