"""Operator tasks run against the vault database directly: KEK rotation and the auditor's
report.  Each is audited like an API call."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from tqdm import tqdm

from services.vault import audit_store
from services.vault.access import Caller, Scope, audit_entry
from services.vault.audit import Decision
from services.vault.crypto import Keyring


@dataclass(frozen=True)
class WrappedKeys:
    """A table of keys wrapped by a KEK: the column naming a row, and the key version its
    wrapping's associated data names (content keys: 0, never a data key's)."""

    table: str
    row_id: str
    version: str
    also_set: str = ""


DATA_KEYS = WrappedKeys("data_keys", "ext_user_id", "key_version", ", rotated_at = now()")
CONTENT_KEYS = WrappedKeys("content_keys", "key_id", "0")
WRAPPED_KEYS = (DATA_KEYS, CONTENT_KEYS)


@dataclass(frozen=True)
class Rewrapped:
    data_keys: int
    content_keys: int


async def rotate_kek(
    dsn: str, keyring: Keyring, caller: str, *, batch_size: int = 1000, progress: bool = True
) -> int:
    """Re-wrap every data key and content key not yet under the active KEK, and audit it.
    Returns how many data keys."""
    conn = await asyncpg.connect(dsn)
    try:
        done = await rewrap_all(conn, keyring, batch_size=batch_size, progress=progress)
        await audit_operation(
            conn,
            Caller(caller, Scope.ADMIN, "rotate-kek"),
            purpose="kek-rotation",
            detail=f"rewrapped={done.data_keys} content_keys={done.content_keys} "
            f"active={keyring.active_id}",
        )
    finally:
        await conn.close()
    return done.data_keys


async def rewrap_all(
    conn: asyncpg.Connection, keyring: Keyring, *, batch_size: int = 1000, progress: bool = True
) -> Rewrapped:
    """Re-wrap every data key and content key not under the active KEK.  Ciphertexts are
    not touched: only the small wrapped keys change.  Batches commit one by one, so a
    rotation stopped half-way resumes where it stopped; a key is under exactly one KEK at
    every moment, and the KEKs it was under before are kept in ``kek_history`` (a backup may
    hold it under any of them)."""
    active = keyring.active_id
    totals = [
        await conn.fetchval(f"SELECT count(*) FROM {keys.table} WHERE kek_id <> $1", active)  # noqa: S608
        for keys in WRAPPED_KEYS
    ]
    done = []
    with tqdm(total=sum(totals), unit="keys", desc="rewrap", disable=not progress) as bar:
        for keys in WRAPPED_KEYS:
            done.append(await _rewrap_table(conn, keyring, keys, batch_size, bar))
    return Rewrapped(*done)


async def _rewrap_table(
    conn: asyncpg.Connection, keyring: Keyring, keys: WrappedKeys, batch_size: int, bar: tqdm
) -> int:
    select = (
        f"SELECT {keys.row_id} AS row_id, ext_user_id, {keys.version} AS version, wrapped_key"  # noqa: S608
        f" FROM {keys.table} WHERE kek_id <> $1 ORDER BY {keys.row_id}"
        " LIMIT $2 FOR UPDATE SKIP LOCKED"
    )
    # The right-hand kek_id is the old one: it joins the history.
    update = (
        f"UPDATE {keys.table} SET wrapped_key = $2, kek_id = $3{keys.also_set},"  # noqa: S608
        f" kek_history = array_append(kek_history, kek_id) WHERE {keys.row_id} = $1"
    )
    rotated = 0
    while True:
        async with conn.transaction():
            rows = await conn.fetch(select, keyring.active_id, batch_size)
            if not rows:
                return rotated
            rewrapped = [
                (
                    row["row_id"],
                    keyring.rewrap(bytes(row["wrapped_key"]), row["ext_user_id"], row["version"]),
                )
                for row in rows
            ]
            await conn.executemany(
                update, [(row_id, key, keyring.kek_id_of(key)) for row_id, key in rewrapped]
            )
        rotated += len(rows)
        bar.update(len(rows))


async def audit_operation(conn: asyncpg.Connection, caller: Caller, **recorded: object) -> None:
    """The one audit row a key operation leaves when it is done."""
    async with conn.transaction():
        await audit_store.append_audit(
            conn, [audit_entry(caller, Decision.KEYS_ROTATED, **recorded)]
        )
