"""SQL for the vault (asyncpg).  Every function takes a connection that is already inside a
transaction where it matters; the service layer decides the transaction boundaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from services.vault.domain import CONTACT_FIELDS, ContactField

CIPHERTEXT_COLUMNS = {f: f"{f.value}_ct" for f in CONTACT_FIELDS}
_SUBJECT_COLUMNS = (
    "s.ext_user_id, s.key_version, s.email_ct, s.phone_ct, s.viber_id_ct, s.whatsapp_id_ct, "
    "s.locale, s.opted_out, s.channels, s.facts_version, s.erased_at, d.wrapped_key, "
    "s.suppressed"
)


@dataclass
class StoredSubject:
    ext_user_id: str
    key_version: int
    ciphertexts: dict[ContactField, bytes]
    locale: str | None
    opted_out: set[str]
    channels: set[str]
    facts_version: int
    erased_at: datetime | None
    wrapped_key: bytes | None
    # Channels on the suppression list (services/vault/suppressions.py keeps the column).
    suppressed: set[str] = field(default_factory=set)

    @property
    def erased(self) -> bool:
        return self.erased_at is not None


def _subject(row: asyncpg.Record) -> StoredSubject:
    return StoredSubject(
        ext_user_id=row["ext_user_id"],
        key_version=row["key_version"],
        ciphertexts={
            f: row[column] for f, column in CIPHERTEXT_COLUMNS.items() if row[column] is not None
        },
        locale=row["locale"],
        opted_out=set(row["opted_out"]),
        channels=set(row["channels"]),
        facts_version=row["facts_version"],
        erased_at=row["erased_at"],
        wrapped_key=row["wrapped_key"],
        suppressed=set(row["suppressed"]),
    )


async def load_subject(
    conn: asyncpg.Connection, ext_user_id: str, *, for_update: bool = False
) -> StoredSubject | None:
    lock = " FOR UPDATE OF s" if for_update else ""
    row = await conn.fetchrow(
        # Only constant column lists and lock clauses are spliced in; values are parameters.
        f"SELECT {_SUBJECT_COLUMNS} FROM subjects s LEFT JOIN data_keys d USING (ext_user_id) "  # noqa: S608
        f"WHERE s.ext_user_id = $1{lock}",
        ext_user_id,
    )
    return _subject(row) if row else None


async def load_subjects(
    conn: asyncpg.Connection, ext_user_ids: Sequence[str], *, for_update: bool = False
) -> dict[str, StoredSubject]:
    lock = " FOR UPDATE OF s" if for_update else ""
    rows = await conn.fetch(
        # Only constant column lists and lock clauses are spliced in; values are parameters.
        f"SELECT {_SUBJECT_COLUMNS} FROM subjects s LEFT JOIN data_keys d USING (ext_user_id) "  # noqa: S608
        f"WHERE s.ext_user_id = ANY($1::text[]){lock}",
        list(ext_user_ids),
    )
    return {row["ext_user_id"]: _subject(row) for row in rows}


async def save_subject(
    conn: asyncpg.Connection,
    subject: StoredSubject,
    *,
    new_key: tuple[str, bytes] | None,
) -> None:
    """Upsert the subject row; ``new_key`` (kek id, wrapped DEK) replaces its data key."""
    ct = subject.ciphertexts
    await conn.execute(
        """INSERT INTO subjects (ext_user_id, key_version, email_ct, phone_ct, viber_id_ct,
                                 whatsapp_id_ct, locale, opted_out, channels, facts_version)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (ext_user_id) DO UPDATE SET
               key_version = EXCLUDED.key_version, email_ct = EXCLUDED.email_ct,
               phone_ct = EXCLUDED.phone_ct, viber_id_ct = EXCLUDED.viber_id_ct,
               whatsapp_id_ct = EXCLUDED.whatsapp_id_ct, locale = EXCLUDED.locale,
               opted_out = EXCLUDED.opted_out, channels = EXCLUDED.channels,
               facts_version = EXCLUDED.facts_version, updated_at = now(), erased_at = NULL""",
        subject.ext_user_id,
        subject.key_version,
        ct.get(ContactField.EMAIL),
        ct.get(ContactField.PHONE),
        ct.get(ContactField.VIBER_ID),
        ct.get(ContactField.WHATSAPP_ID),
        subject.locale,
        sorted(subject.opted_out),
        sorted(subject.channels),
        subject.facts_version,
    )
    if new_key is not None:
        kek_id, wrapped = new_key
        await conn.execute(
            """INSERT INTO data_keys (ext_user_id, key_version, kek_id, wrapped_key)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (ext_user_id) DO UPDATE SET key_version = EXCLUDED.key_version,
                   kek_id = EXCLUDED.kek_id, wrapped_key = EXCLUDED.wrapped_key,
                   rotated_at = NULL""",
            subject.ext_user_id,
            subject.key_version,
            kek_id,
            wrapped,
        )


async def replace_blind_index(
    conn: asyncpg.Connection,
    ext_user_id: str,
    digests: dict[ContactField, bytes | None],
    key_version: int,
) -> None:
    """For each field given, drop its old digest and store the new one (if any)."""
    if not digests:
        return
    await conn.execute(
        "DELETE FROM blind_index WHERE ext_user_id = $1 AND field = ANY($2::text[])",
        ext_user_id,
        [f.value for f in digests],
    )
    rows = [(f.value, d, ext_user_id, key_version) for f, d in digests.items() if d is not None]
    if rows:
        await conn.executemany(
            "INSERT INTO blind_index (field, digest, ext_user_id, key_version)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            rows,
        )


async def erase_subject(
    conn: asyncpg.Connection, ext_user_id: str, facts_version: int
) -> list[str]:
    """Crypto-shredding: the data key goes, the ciphertexts and index rows with it; a
    tombstone stays so that a later lookup can answer "erased".  Returns the ids of the KEKs
    that wrapped the destroyed key, the last one last (backups may hold it under any)."""
    keks = await conn.fetchval(
        "DELETE FROM data_keys WHERE ext_user_id = $1 RETURNING kek_history || kek_id",
        ext_user_id,
    )
    await conn.execute("DELETE FROM blind_index WHERE ext_user_id = $1", ext_user_id)
    await conn.execute(
        """UPDATE subjects SET email_ct = NULL, phone_ct = NULL, viber_id_ct = NULL,
               whatsapp_id_ct = NULL, locale = NULL, opted_out = '{}', channels = '{}',
               facts_version = $2, erased_at = now(), updated_at = now()
           WHERE ext_user_id = $1""",
        ext_user_id,
        facts_version,
    )
    return list(keks or [])


async def lookup_buckets(
    conn: asyncpg.Connection, field: ContactField, buckets: list[tuple[int, bytes]]
) -> list[str]:
    """The subjects in any of the (key version, bucket)s: candidates, not yet matches."""
    rows = await conn.fetch(
        "SELECT DISTINCT b.ext_user_id FROM blind_index b"
        " JOIN unnest($2::integer[], $3::bytea[]) AS k(v, d)"
        " ON b.key_version = k.v AND b.digest = k.d WHERE b.field = $1 ORDER BY 1",
        field.value,
        [version for version, _ in buckets],
        [bucket for _, bucket in buckets],
    )
    return [row["ext_user_id"] for row in rows]
