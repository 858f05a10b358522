"""SQL for the audit log (asyncpg): appending to the chain, reading it back, its signed
checkpoints and the anchor a pruned log starts from."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.vault.audit import AuditEntry, Decision, StoredRow, hashed, published
from services.vault.audit_facts import KEPT, Fact, fact_key, fact_of
from services.vault.checkpoints import Checkpoint

# One statement for the rows and the head: the head's lock is held for as few round trips
# as possible, because every audited access in the system queues on it.
_AUDIT_APPEND = """
WITH appended AS (
    INSERT INTO audit_log (seq, audit_id, at, caller, scope, purpose, ext_user_id, fields,
                           decision, ext_message_id, request_id, detail, peer, prev_hash,
                           row_hash)
    SELECT s, a, t, c, sc, p, u, ARRAY(SELECT jsonb_array_elements_text(f)), d, m, r, dt, pe,
           ph, rh
    FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[],
                $6::text[], $7::text[], $8::jsonb[], $9::text[], $10::uuid[], $11::text[],
                $12::text[], $13::text[], $14::bytea[], $15::bytea[])
         AS x(s, a, t, c, sc, p, u, f, d, m, r, dt, pe, ph, rh)
    RETURNING 1
)
UPDATE audit_head SET last_seq = $16, last_hash = $17,
       row_count = row_count + (SELECT count(*) FROM appended)
WHERE id"""


@dataclass(frozen=True)
class ChainPoint:
    """A place in the chain: a row's seq and hash (the head, a checkpoint, the anchor)."""

    seq: int
    hash: bytes


async def append_audit(conn: asyncpg.Connection, entries: Sequence[AuditEntry]) -> ChainPoint:
    """Append to the chain inside the caller's transaction: if the transaction rolls back,
    so does the access it records, and vice versa.  Locking the head row orders appends;
    callers take it last so it is held only until commit.  Returns the last row written."""
    head = await conn.fetchrow("SELECT last_seq, last_hash FROM audit_head WHERE id FOR UPDATE")
    seq, previous = head["last_seq"], bytes(head["last_hash"])
    if not entries:
        return ChainPoint(seq, previous)
    columns: list[list[object]] = [[] for _ in range(15)]
    for entry in entries:
        seq += 1
        row_hash, text = hashed(previous, seq, entry)
        KEPT.keep(row_hash, (fact_key(entry), published(text, row_hash)))
        values = (
            seq,
            entry.audit_id,
            entry.at,
            entry.caller,
            entry.scope,
            entry.purpose,
            entry.ext_user_id,
            _fields_json(entry.fields),
            entry.decision.value,
            entry.ext_message_id,
            entry.request_id,
            entry.detail,
            entry.peer,
            previous,
            row_hash,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
        previous = row_hash
    await conn.execute(_AUDIT_APPEND, *columns, seq, previous)
    return ChainPoint(seq, previous)


@functools.lru_cache(maxsize=256)
def _fields_json(fields: tuple[str, ...]) -> str:
    # A handful of distinct field lists, each encoded once (not once per row).
    return json.dumps(list(fields))


def entry_of(row: asyncpg.Record) -> AuditEntry:
    return AuditEntry(
        caller=row["caller"],
        scope=row["scope"],
        decision=Decision(row["decision"]),
        request_id=row["request_id"],
        at=row["at"],
        purpose=row["purpose"],
        ext_user_id=row["ext_user_id"],
        fields=tuple(row["fields"]),
        # asyncpg's UUIDs are uuid.UUIDs already (parsing them again cost the relay).
        ext_message_id=row["ext_message_id"],
        detail=row["detail"],
        peer=row["peer"],
        audit_id=row["audit_id"],
    )


def stored_row(row: asyncpg.Record) -> StoredRow:
    return StoredRow(row["seq"], entry_of(row), bytes(row["prev_hash"]), bytes(row["row_hash"]))


async def audit_head(conn: asyncpg.Connection) -> ChainPoint:
    head = await conn.fetchrow("SELECT last_seq, last_hash FROM audit_head WHERE id")
    return ChainPoint(head["last_seq"], bytes(head["last_hash"]))


async def audit_anchor(conn: asyncpg.Connection) -> ChainPoint:
    """Where the stored chain begins: genesis, or the checkpoint the last prune kept."""
    anchor = await conn.fetchrow("SELECT seq, hash FROM audit_anchor WHERE id")
    return ChainPoint(anchor["seq"], bytes(anchor["hash"]))


async def iter_audit_rows(conn: asyncpg.Connection) -> AsyncIterator[StoredRow]:
    """Every row in chain order, streamed (the log outgrows memory); needs a transaction."""
    async for row in conn.cursor("SELECT * FROM audit_log ORDER BY seq", prefetch=2000):
        yield stored_row(row)


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
    return [(row["seq"], entry_of(row)) for row in rows]


async def facts_after(conn: asyncpg.Connection, seq: int, limit: int) -> tuple[int, list[Fact]]:
    """The published facts of the committed rows after ``seq``, in order, and the last
    row's seq (``seq`` when there is none): kept from their append, or made from the table
    (``services/vault/audit_facts.py``)."""
    rows = await conn.fetch(
        "SELECT seq, row_hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", seq, limit
    )
    facts = {row["seq"]: KEPT.take(bytes(row["row_hash"])) for row in rows}
    missing = [at for at, fact in facts.items() if fact is None]
    if missing:
        for row in await conn.fetch(
            "SELECT * FROM audit_log WHERE seq = ANY($1::bigint[])", missing
        ):
            facts[row["seq"]] = fact_of(stored_row(row))
    return (rows[-1]["seq"] if rows else seq), [fact for fact in facts.values() if fact]


# --- checkpoints ---------------------------------------------------------------------


async def latest_checkpoint_seq(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM audit_checkpoints"))


async def store_checkpoint(conn: asyncpg.Connection, checkpoint: Checkpoint) -> None:
    """Two replicas may sign the same head: the first one stored stays."""
    await conn.execute(
        "INSERT INTO audit_checkpoints (seq, head_hash, at, key_id, signature)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
        checkpoint.seq,
        checkpoint.head_hash,
        checkpoint.at,
        checkpoint.key_id,
        checkpoint.signature,
    )


async def stored_checkpoints(conn: asyncpg.Connection) -> list[Checkpoint]:
    rows = await conn.fetch("SELECT * FROM audit_checkpoints ORDER BY seq")
    return [
        Checkpoint(
            row["seq"], bytes(row["head_hash"]), row["at"], row["key_id"], bytes(row["signature"])
        )
        for row in rows
    ]


async def prune_through(conn: asyncpg.Connection, anchor: ChainPoint) -> int:
    """Delete the rows up to ``anchor`` (a verified checkpoint) and start the chain there;
    as the owner, in the caller's transaction.  Returns how many rows went."""
    await conn.execute("SET LOCAL blindpost.audit_prune = 'on'")
    await conn.execute(
        "UPDATE audit_anchor SET seq = $1, hash = $2 WHERE id", anchor.seq, anchor.hash
    )
    deleted = await conn.execute("DELETE FROM audit_log WHERE seq <= $1", anchor.seq)
    return int(deleted.split()[-1])
