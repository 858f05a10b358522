"""Operator tasks run against the vault database directly: KEK rotation and the auditor's
report.  Each is audited like an API call."""

from __future__ import annotations

import asyncpg
from tqdm import tqdm

from services.vault import audit_store, content_keys
from services.vault.access import Caller, Scope, audit_entry
from services.vault.audit import Decision
from services.vault.crypto import Keyring


async def rotate_kek(
    dsn: str, keyring: Keyring, caller: str, *, batch_size: int = 1000, progress: bool = True
) -> int:
    """Re-wrap every data key not yet under the active KEK, and audit it."""
    conn = await asyncpg.connect(dsn)
    try:
        rotated = await rewrap_all(conn, keyring, batch_size=batch_size, progress=progress)
        contents = await content_keys.rewrap_all(conn, keyring, batch_size)
        await audit_operation(
            conn,
            Caller(caller, Scope.ADMIN, "rotate-kek"),
            purpose="kek-rotation",
            detail=f"rewrapped={rotated} content_keys={contents} active={keyring.active_id}",
        )
    finally:
        await conn.close()
    return rotated


async def rewrap_all(
    conn: asyncpg.Connection, keyring: Keyring, *, batch_size: int = 1000, progress: bool = True
) -> int:
    """Re-wrap every data key not under the active KEK.  Ciphertexts are not touched: only
    the small wrapped keys change.  Batches commit one by one, so a rotation stopped half-way
    resumes where it stopped; a DEK is under exactly one KEK at every moment, and the KEKs it
    was under before are kept in ``kek_history`` (a backup may hold it under any of them)."""
    active = keyring.active_id
    rotated = 0
    total = await conn.fetchval("SELECT count(*) FROM data_keys WHERE kek_id <> $1", active)
    with tqdm(total=total, unit="keys", desc="rewrap", disable=not progress) as bar:
        while True:
            async with conn.transaction():
                rows = await conn.fetch(
                    "SELECT ext_user_id, key_version, wrapped_key FROM data_keys "
                    "WHERE kek_id <> $1 ORDER BY ext_user_id LIMIT $2 FOR UPDATE SKIP LOCKED",
                    active,
                    batch_size,
                )
                if not rows:
                    break
                rewrapped = [
                    (
                        row["ext_user_id"],
                        keyring.rewrap(
                            bytes(row["wrapped_key"]), row["ext_user_id"], row["key_version"]
                        ),
                    )
                    for row in rows
                ]
                updates = [(user, key, keyring.kek_id_of(key)) for user, key in rewrapped]
                # The right-hand kek_id is the old one: it joins the history.
                await conn.executemany(
                    "UPDATE data_keys SET wrapped_key = $2, kek_id = $3, rotated_at = now(), "
                    "kek_history = array_append(kek_history, kek_id) WHERE ext_user_id = $1",
                    updates,
                )
            rotated += len(rows)
            bar.update(len(rows))
    return rotated


async def audit_operation(conn: asyncpg.Connection, caller: Caller, **recorded: object) -> None:
    """The one audit row a key operation leaves when it is done."""
    async with conn.transaction():
        await audit_store.append_audit(
            conn, [audit_entry(caller, Decision.KEYS_ROTATED, **recorded)]
        )
