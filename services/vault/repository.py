"""SQL for the vault (asyncpg).  Every function takes a connection that is already inside a
transaction where it matters; the service layer decides the transaction boundaries."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from services.vault.audit import AuditEntry, Decision, StoredRow, chain_hash
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


async def erase_subject(conn: asyncpg.Connection, ext_user_id: str, facts_version: int) -> None:
    """Crypto-shredding: the data key goes, the ciphertexts and index rows with it; a
    tombstone stays so that a later lookup can answer "erased"."""
    await conn.execute("DELETE FROM data_keys WHERE ext_user_id = $1", ext_user_id)
    await conn.execute("DELETE FROM blind_index WHERE ext_user_id = $1", ext_user_id)
    await conn.execute(
        """UPDATE subjects SET email_ct = NULL, phone_ct = NULL, viber_id_ct = NULL,
               whatsapp_id_ct = NULL, locale = NULL, opted_out = '{}', channels = '{}',
               facts_version = $2, erased_at = now(), updated_at = now()
           WHERE ext_user_id = $1""",
        ext_user_id,
        facts_version,
    )


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


# --- the audit log ---------------------------------------------------------------------

# One statement for the rows and the head: the head's lock is held for as few round trips
# as possible, because every audited access in the system queues on it.
_AUDIT_APPEND = """
WITH appended AS (
    INSERT INTO audit_log (seq, audit_id, at, caller, scope, purpose, ext_user_id, fields,
                           decision, ext_message_id, request_id, detail, prev_hash, row_hash)
    SELECT s, a, t, c, sc, p, u, ARRAY(SELECT jsonb_array_elements_text(f)), d, m, r, dt, ph, rh
    FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[],
                $6::text[], $7::text[], $8::jsonb[], $9::text[], $10::uuid[], $11::text[],
                $12::text[], $13::bytea[], $14::bytea[])
         AS x(s, a, t, c, sc, p, u, f, d, m, r, dt, ph, rh)
    RETURNING 1
)
UPDATE audit_head SET last_seq = $15, last_hash = $16,
       row_count = row_count + (SELECT count(*) FROM appended)
WHERE id"""


async def append_audit(conn: asyncpg.Connection, entries: Sequence[AuditEntry]) -> None:
    """Append to the chain inside the caller's transaction: if the transaction rolls back,
    so does the access it records, and vice versa.  Locking the head row orders appends;
    callers take it last so it is held only until commit."""
    if not entries:
        return
    head = await conn.fetchrow("SELECT last_seq, last_hash FROM audit_head WHERE id FOR UPDATE")
    seq, previous = head["last_seq"], bytes(head["last_hash"])
    columns: list[list[object]] = [[] for _ in range(14)]
    for entry in entries:
        seq += 1
        row_hash = chain_hash(previous, seq, entry)
        values = (
            seq,
            entry.audit_id,
            entry.at,
            entry.caller,
            entry.scope,
            entry.purpose,
            entry.ext_user_id,
            json.dumps(list(entry.fields)),
            entry.decision.value,
            entry.ext_message_id,
            entry.request_id,
            entry.detail,
            previous,
            row_hash,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
        previous = row_hash
    await conn.execute(_AUDIT_APPEND, *columns, seq, previous)


def _entry(row: asyncpg.Record) -> AuditEntry:
    return AuditEntry(
        caller=row["caller"],
        scope=row["scope"],
        decision=Decision(row["decision"]),
        request_id=row["request_id"],
        at=row["at"],
        purpose=row["purpose"],
        ext_user_id=row["ext_user_id"],
        fields=tuple(row["fields"]),
        ext_message_id=uuid.UUID(str(row["ext_message_id"])) if row["ext_message_id"] else None,
        detail=row["detail"],
        audit_id=uuid.UUID(str(row["audit_id"])),
    )


async def audit_head(conn: asyncpg.Connection) -> tuple[bytes, int]:
    head = await conn.fetchrow("SELECT row_count, last_hash FROM audit_head WHERE id")
    return bytes(head["last_hash"]), head["row_count"]


async def iter_audit_rows(conn: asyncpg.Connection) -> AsyncIterator[StoredRow]:
    """Every row in chain order, streamed (the log outgrows memory); needs a transaction."""
    async for row in conn.cursor("SELECT * FROM audit_log ORDER BY seq", prefetch=2000):
        yield StoredRow(row["seq"], _entry(row), bytes(row["prev_hash"]), bytes(row["row_hash"]))


async def audit_for_subject(
    conn: asyncpg.Connection, ext_user_id: str, since: datetime | None, limit: int = 10_000
) -> list[tuple[int, AuditEntry]]:
    rows = await conn.fetch(
        "SELECT * FROM audit_log WHERE ext_user_id = $1 AND ($2::timestamptz IS NULL OR at >= $2) "
        "ORDER BY seq LIMIT $3",
        ext_user_id,
        since,
        limit,
    )
    return [(row["seq"], _entry(row)) for row in rows]


async def audit_after(
    conn: asyncpg.Connection, seq: int, limit: int
) -> list[tuple[int, AuditEntry]]:
    rows = await conn.fetch(
        "SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", seq, limit
    )
    return [(row["seq"], _entry(row)) for row in rows]
