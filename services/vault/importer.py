"""Bulk import of subjects from JSONL or CSV: streamed in batches, validated line by line, in
one database transaction (a crash or a fatal error leaves nothing written), with a report of
rejected lines that names the line and the reason, never the value."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import asyncpg
from tqdm import tqdm

from services.vault import audit_store
from services.vault import repository as repo
from services.vault.access import Caller, Scope, audit_entry
from services.vault.audit import Decision
from services.vault.crypto import BlindIndex, Keyring
from services.vault.import_batches import (
    IMPORT_PURPOSE,
    STAGING,
    PipelinedWriter,
    audit_imported_subjects,
    cooperative,
)
from services.vault.import_lines import (
    ImportAborted,
    ImportReport,
    NumberedChange,
    detect_format,
    read_changes,
)
from services.vault.publisher import Publisher
from services.vault.tombstones import ErasureOverride, ImportErasures
from services.vault.writes import facts_of

BATCH = 5000


async def import_file(
    path: Path,
    *,
    dsn: str,
    keyring: Keyring,
    blind_index: BlindIndex,
    publisher: Publisher,
    caller: str,
    fmt: str | None = None,
    default_region: str | None = None,
    strict: bool = False,
    batch_size: int = BATCH,
    progress: bool = True,
    override_erasure: ErasureOverride | None = None,
) -> ImportReport:
    """Import ``path``.  With ``strict``, one rejected line means nothing is written.  A line
    for an erased subject is rejected unless ``override_erasure`` is given."""
    fmt = detect_format(path, fmt)
    # Blocking file I/O is fine here: an operator command, nothing else runs on this loop.
    size = path.stat().st_size  # noqa: ASYNC240
    report = ImportReport()
    operator = Caller(caller, Scope.ADMIN, str(path.name)[:64])
    erasures = ImportErasures(operator, override_erasure)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            started: datetime = await conn.fetchval("SELECT now()")
            await conn.execute(STAGING)
            with (
                path.open("rb") as handle,
                tqdm(
                    total=size,
                    unit="B",
                    unit_scale=True,
                    desc="import",
                    disable=not progress,
                    mininterval=0.5,
                ) as bar,
            ):
                writer = PipelinedWriter(conn, keyring, blind_index, report, erasures)
                batch: list[NumberedChange] = []
                seen: set[str] = set()
                position = 0
                try:
                    async for line, change in cooperative(
                        read_changes(handle, fmt, default_region, report.rejected)
                    ):
                        if change.ext_user_id in seen:
                            # A subject twice in one batch: the earlier line must land first.
                            await writer.submit(batch)
                            batch, seen = [], set()
                        batch.append((line, change))
                        seen.add(change.ext_user_id)
                        if len(batch) >= batch_size:
                            await writer.submit(batch)
                            batch, seen = [], set()
                            bar.update(handle.tell() - position)
                            position = handle.tell()
                    await writer.submit(batch)
                    await writer.drain()
                finally:
                    await writer.abandon()
                bar.update(size - position)
            if strict and report.rejected:
                raise ImportAborted(f"{len(report.rejected)} lines rejected and --strict given")
            entry = audit_entry(
                operator,
                Decision.IMPORTED,
                purpose=IMPORT_PURPOSE,
                fields=("email", "phone", "viber_id", "whatsapp_id", "locale", "opted_out"),
                detail=f"imported={report.imported} rejected={len(report.rejected)}",
            )
            await audit_imported_subjects(conn, operator)
            await audit_store.append_audit(conn, [*erasures.audit_entries(), entry])
        report.committed = True
        report.facts_published = await publish_facts(conn, publisher, since=started)
    except ImportAborted:
        # Nothing was written, but refusing an erased subject was a decision about it: it
        # stays in the audit log.
        refused = [e for e in erasures.audit_entries() if e.decision is Decision.REFUSED_ERASED]
        if refused:
            async with conn.transaction():
                await audit_store.append_audit(conn, refused)
        raise
    finally:
        await conn.close()
    return report


async def publish_facts(
    conn: asyncpg.Connection, publisher: Publisher, since: datetime | None = None, chunk: int = 5000
) -> int:
    """Publish the facts of every live subject written since ``since`` (all, without it),
    streaming from the database.  Safe to repeat: consumers keep the highest version."""
    published = 0
    async with conn.transaction(readonly=True):
        cursor = conn.cursor(
            "SELECT ext_user_id, key_version, locale, opted_out, channels, facts_version,"
            " erased_at, suppressed FROM subjects"
            " WHERE ($1::timestamptz IS NULL OR updated_at >= $1)",
            since,
            prefetch=chunk,
        )
        pending = []
        async for row in cursor:
            if row["erased_at"] is not None:
                continue
            subject = repo.StoredSubject(
                row["ext_user_id"],
                row["key_version"],
                {},
                None,
                set(row["opted_out"]),
                set(row["channels"]),
                row["facts_version"],
                None,
                None,
                set(row["suppressed"]),
            )
            pending.append(facts_of(subject))
            if len(pending) >= chunk:
                await publisher.subject_facts(pending)
                published += len(pending)
                pending = []
        if pending:
            await publisher.subject_facts(pending)
            published += len(pending)
    return published
