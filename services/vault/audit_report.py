"""`blindpost audit pii`: the audit log filtered by player, principal, purpose, decision and
time, streamed as CSV or JSON from one snapshot (millions of rows in flat memory), with a
progress bar on stderr.  The report is audited, and committed, before a row leaves."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TextIO

import asyncpg
from tqdm import tqdm

from services.vault import audit_store
from services.vault.access import Caller, Scope, audit_entry
from services.vault.audit import Decision

COLUMNS = [
    "seq",
    "at",
    "caller",
    "scope",
    "purpose",
    "decision",
    "fields",
    "ext_message_id",
    "request_id",
    "audit_id",
    "detail",
    "ext_user_id",
    "peer",
]


@dataclass(frozen=True)
class ReportFilter:
    ext_user_id: str | None = None
    principal: str | None = None
    purpose: str | None = None
    decision: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> tuple[str, list[object]]:
        """The SQL condition (columns are constants, values parameters) and its values."""
        conditions = (
            ("ext_user_id = ", self.ext_user_id),
            ("caller = ", self.principal),
            ("purpose = ", self.purpose),
            ("decision = ", self.decision),
            ("at >= ", self.since),
            ("at < ", self.until),
        )
        clauses: list[str] = []
        values: list[object] = []
        for condition, value in conditions:
            if value is not None:
                values.append(value)
                clauses.append(f"{condition}${len(values)}")
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), values

    def describe(self) -> str:
        given = {k: v for k, v in asdict(self).items() if v is not None and k != "ext_user_id"}
        return " ".join(
            f"{k}={v.isoformat() if isinstance(v, datetime) else v}" for k, v in given.items()
        )


class _Csv:
    def __init__(self, out: TextIO) -> None:
        self.writer = csv.DictWriter(out, COLUMNS, extrasaction="ignore", lineterminator="\n")
        self.writer.writeheader()

    def write(self, record: dict[str, object]) -> None:
        fields = record["fields"]
        assert isinstance(fields, list)
        self.writer.writerow({**record, "fields": ";".join(fields)})

    def close(self) -> None:
        pass


class _Json:
    """One JSON array, written an element at a time."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.first = True
        out.write("[")

    def write(self, record: dict[str, object]) -> None:
        self.out.write(("\n" if self.first else ",\n") + json.dumps(record))
        self.first = False

    def close(self) -> None:
        self.out.write("]\n" if self.first else "\n]\n")


async def write_report(
    dsn: str,
    report: ReportFilter,
    fmt: str,
    caller: str,
    *,
    out: TextIO = sys.stdout,
    progress: bool = True,
) -> int:
    """Stream the rows ``report`` selects to ``out``; returns how many."""
    where, values = report.where()
    reader = await asyncpg.connect(dsn)
    try:
        async with reader.transaction(isolation="repeatable_read", readonly=True):
            # The snapshot is taken here: the report's own audit row is not in it.
            total = await reader.fetchval(f"SELECT count(*) FROM audit_log{where}", *values)  # noqa: S608
            await _audit(dsn, report, caller)
            sink = _Json(out) if fmt == "json" else _Csv(out)
            written = 0
            with tqdm(
                total=total, unit="rows", desc="audit pii", file=sys.stderr, disable=not progress
            ) as bar:
                query = f"SELECT * FROM audit_log{where} ORDER BY seq"  # noqa: S608
                async for row in reader.cursor(query, *values, prefetch=5000):
                    sink.write({"seq": row["seq"], **audit_store.entry_of(row).facts()})
                    written += 1
                    bar.update()
            sink.close()
            return written
    finally:
        await reader.close()


async def _audit(dsn: str, report: ReportFilter, caller: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            entry = audit_entry(
                Caller(caller, Scope.AUDITOR, "audit-pii"),
                Decision.AUDIT_READ,
                purpose="audit",
                ext_user_id=report.ext_user_id,
                detail=report.describe() or None,
            )
            await audit_store.append_audit(conn, [entry])
    finally:
        await conn.close()
