"""Bulk import of subjects from JSONL or CSV: streamed in batches, validated line by line, in
one database transaction (a crash or a fatal error leaves nothing written), with a report of
rejected lines that names the line and the reason, never the value."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

import asyncpg
from tqdm import tqdm

from services.vault import repository as repo
from services.vault.audit import AuditEntry, Decision
from services.vault.crypto import BlindIndex, Keyring
from services.vault.domain import InvalidContact, SubjectChange, parse_change
from services.vault.publisher import Publisher
from services.vault.service import facts_of, now
from services.vault.writes import apply_change

BATCH = 5000
CSV_COLUMNS = ("ext_user_id", "email", "phone", "viber_id", "whatsapp_id", "locale", "opted_out")


class ImportAborted(Exception):
    """The file cannot be read as a whole; nothing was written."""


@dataclass(frozen=True)
class Rejected:
    line: int
    field: str
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    facts_published: int = 0
    committed: bool = False

    def summary(self) -> str:
        return f"imported {self.imported} subjects, rejected {len(self.rejected)} lines" + (
            "" if self.committed else " (nothing written)"
        )


def _jsonl(handle: IO[bytes]) -> Iterator[tuple[int, object]]:
    for number, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw)
        except UnicodeDecodeError:
            yield number, InvalidContact("line", "not UTF-8")
        except ValueError:
            yield number, InvalidContact("line", "not a JSON object")


def _csv(handle: IO[bytes]) -> Iterator[tuple[int, object]]:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    try:
        reader = csv.DictReader(text)
        if not reader.fieldnames or "ext_user_id" not in reader.fieldnames:
            raise ImportAborted(
                "the CSV header must name ext_user_id (and any of "
                + ", ".join(CSV_COLUMNS[1:])
                + ")"
            )
        for row in reader:
            body: dict[str, object] = {
                key: value
                for key, value in row.items()
                if key is not None and value not in ("", None)
            }
            if None in row:
                yield reader.line_num, InvalidContact("line", "more cells than header columns")
                continue
            if "opted_out" in body:
                body["opted_out"] = [
                    c.strip() for c in str(body["opted_out"]).split(";") if c.strip()
                ]
            yield reader.line_num, body
    except UnicodeDecodeError:
        raise ImportAborted("the file is not UTF-8") from None
    except csv.Error as exc:
        raise ImportAborted(
            f"CSV is malformed near line {exc.args[0] if exc.args else '?'}"
        ) from None
    finally:
        text.detach()


def _changes(
    handle: IO[bytes], fmt: str, default_region: str | None, report: ImportReport
) -> Iterator[SubjectChange]:
    records = _csv(handle) if fmt == "csv" else _jsonl(handle)
    for number, record in records:
        try:
            if isinstance(record, InvalidContact):
                raise record
            if not isinstance(record, dict):
                raise InvalidContact("line", "not a JSON object")
            yield parse_change(record.get("ext_user_id"), record, default_region)  # type: ignore[arg-type]
        except InvalidContact as exc:
            report.rejected.append(Rejected(number, exc.field, exc.reason))


def detect_format(path: Path, given: str | None) -> str:
    if given:
        return given
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


async def _apply_batch(
    conn: asyncpg.Connection, batch: list[SubjectChange], keyring: Keyring, blind_index: BlindIndex
) -> None:
    current = await repo.load_subjects(conn, [c.ext_user_id for c in batch], for_update=True)
    subjects, keys, index_rows, reindexed = [], [], [], []
    for change in batch:
        applied = apply_change(current.get(change.ext_user_id), change, keyring, blind_index)
        s = applied.subject
        ct = s.ciphertexts
        subjects.append(
            (
                s.ext_user_id,
                s.key_version,
                *(ct.get(f) for f in repo.CIPHERTEXT_COLUMNS),
                s.locale,
                sorted(s.opted_out),
                sorted(s.channels),
                s.facts_version,
            )
        )
        if applied.new_key:
            keys.append((s.ext_user_id, s.key_version, applied.new_key[0], applied.new_key[1]))
        for f, digest in applied.digests.items():
            if change.ext_user_id in current:
                reindexed.append((s.ext_user_id, f.value))
            if digest is not None:
                index_rows.append((f.value, digest, s.ext_user_id))
    # COPY into session-local staging tables, then one set-based upsert per table: an order
    # of magnitude faster than row-by-row INSERTs for a million subjects.
    await conn.execute("TRUNCATE import_subjects, import_keys, import_index, import_reindexed")
    await conn.copy_records_to_table("import_subjects", records=subjects)
    await conn.copy_records_to_table("import_keys", records=keys)
    await conn.copy_records_to_table("import_index", records=index_rows)
    if reindexed:
        await conn.copy_records_to_table("import_reindexed", records=reindexed)
    await conn.execute(
        """INSERT INTO subjects (ext_user_id, key_version, email_ct, phone_ct, viber_id_ct,
               whatsapp_id_ct, locale, opted_out, channels, facts_version)
           SELECT * FROM import_subjects
           ON CONFLICT (ext_user_id) DO UPDATE SET
               key_version = EXCLUDED.key_version, email_ct = EXCLUDED.email_ct,
               phone_ct = EXCLUDED.phone_ct, viber_id_ct = EXCLUDED.viber_id_ct,
               whatsapp_id_ct = EXCLUDED.whatsapp_id_ct, locale = EXCLUDED.locale,
               opted_out = EXCLUDED.opted_out, channels = EXCLUDED.channels,
               facts_version = EXCLUDED.facts_version, updated_at = now(), erased_at = NULL"""
    )
    await conn.execute(
        """INSERT INTO data_keys (ext_user_id, key_version, kek_id, wrapped_key)
           SELECT * FROM import_keys
           ON CONFLICT (ext_user_id) DO UPDATE SET key_version = EXCLUDED.key_version,
               kek_id = EXCLUDED.kek_id, wrapped_key = EXCLUDED.wrapped_key, rotated_at = NULL"""
    )
    if current:  # only subjects that existed before can have digests to replace
        await conn.execute(
            """DELETE FROM blind_index b USING import_reindexed r
               WHERE b.ext_user_id = r.ext_user_id AND b.field = r.field"""
        )
    await conn.execute("INSERT INTO blind_index SELECT * FROM import_index ON CONFLICT DO NOTHING")


async def _cooperative(
    items: Iterator[SubjectChange], every: int = 64
) -> AsyncIterator[SubjectChange]:
    """Validation is CPU work: hand the loop back now and then, so that the previous batch's
    queries make progress while the next batch is validated."""
    for number, item in enumerate(items):
        if number % every == 0:
            await asyncio.sleep(0)
        yield item


class _PipelinedWriter:
    """One batch in the database while the next is validated; batches still land in order
    (each waits for the one before), so a subject's later line always wins."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        keyring: Keyring,
        blind_index: BlindIndex,
        report: ImportReport,
    ) -> None:
        self.conn, self.keyring, self.blind_index, self.report = conn, keyring, blind_index, report
        self.pending: asyncio.Task[None] | None = None

    async def submit(self, batch: list[SubjectChange]) -> None:
        await self.drain()
        if batch:
            self.pending = asyncio.create_task(self._write(batch))

    async def _write(self, batch: list[SubjectChange]) -> None:
        await _apply_batch(self.conn, batch, self.keyring, self.blind_index)
        self.report.imported += len(batch)

    async def drain(self) -> None:
        if self.pending is not None:
            task, self.pending = self.pending, None
            await task

    async def abandon(self) -> None:
        """After a failure: stop the batch in flight before the transaction rolls back."""
        if self.pending is not None and not self.pending.done():
            self.pending.cancel()
            with contextlib.suppress(BaseException):
                await self.pending
        self.pending = None


_STAGING = """
CREATE TEMP TABLE import_subjects ON COMMIT DROP AS
    SELECT ext_user_id, key_version, email_ct, phone_ct, viber_id_ct, whatsapp_id_ct, locale,
           opted_out, channels, facts_version FROM subjects WITH NO DATA;
CREATE TEMP TABLE import_keys ON COMMIT DROP AS
    SELECT ext_user_id, key_version, kek_id, wrapped_key FROM data_keys WITH NO DATA;
CREATE TEMP TABLE import_index ON COMMIT DROP AS
    SELECT field, digest, ext_user_id FROM blind_index WITH NO DATA;
CREATE TEMP TABLE import_reindexed (ext_user_id text, field text) ON COMMIT DROP;
"""


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
) -> ImportReport:
    """Import ``path``.  With ``strict``, one rejected line means nothing is written."""
    fmt = detect_format(path, fmt)
    # Blocking file I/O is fine here: an operator command, nothing else runs on this loop.
    size = path.stat().st_size  # noqa: ASYNC240
    report = ImportReport()
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            started: datetime = await conn.fetchval("SELECT now()")
            await conn.execute(_STAGING)
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
                writer = _PipelinedWriter(conn, keyring, blind_index, report)
                batch: list[SubjectChange] = []
                seen: set[str] = set()
                position = 0
                try:
                    async for change in _cooperative(_changes(handle, fmt, default_region, report)):
                        if change.ext_user_id in seen:
                            # A subject twice in one batch: the earlier line must land first.
                            await writer.submit(batch)
                            batch, seen = [], set()
                        batch.append(change)
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
            entry = AuditEntry(
                caller=caller,
                scope="admin",
                decision=Decision.IMPORTED,
                request_id=str(path.name)[:64],
                at=now(),
                purpose="bulk-import",
                fields=("email", "phone", "viber_id", "whatsapp_id", "locale", "opted_out"),
                detail=f"imported={report.imported} rejected={len(report.rejected)}",
            )
            await repo.append_audit(conn, [entry])
        report.committed = True
        report.facts_published = await publish_facts(conn, publisher, since=started)
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
            "SELECT ext_user_id, key_version, locale, opted_out, channels, facts_version, "
            "erased_at FROM subjects WHERE ($1::timestamptz IS NULL OR updated_at >= $1)",
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
