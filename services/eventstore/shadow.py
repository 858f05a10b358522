"""Shadow tables: an empty copy of a live read-model table in another schema, rebuilt there
by the replay, and the checksum that compares the two.

A checksum covers what the log decides (``compared`` columns of ``covered`` rows), never
what a stage adds of its own (when it wrote a row, its next retry time, a sealed work item):
equal checksums mean the log and the live table agree.

Schema and table names are checked against a strict pattern or are constants; every value
is a query parameter.
"""

# ruff: noqa: S608 - every query here splices in a checked schema name or a constant

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from shared.events import Envelope, Event

LIVE_SCHEMA = "public"
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def checked(schema: str) -> str:
    if not _NAME.fullmatch(schema):
        raise ValueError("schema names are lower-case letters, digits and underscores")
    return schema


@dataclass(frozen=True)
class ShadowTable:
    name: str
    key: tuple[str, ...]
    compared: tuple[str, ...]
    covered: str = "true"  # the rows the checksum covers (an SQL condition, a constant)

    def compared_rows(self, schema: str) -> str:
        """The query that lists what the checksum covers, in key order."""
        return (
            f"SELECT {', '.join(self.compared)} FROM {checked(schema)}.{self.name} "
            f"WHERE {self.covered} ORDER BY {', '.join(self.key)}"
        )

    def difference(self, shadow: str) -> str:
        """SQL an operator runs to see how the live table and the rebuild differ."""
        columns = ", ".join(self.compared)
        rebuilt = f"SELECT {columns} FROM {shadow}.{self.name} WHERE {self.covered}"
        live = f"SELECT {columns} FROM {LIVE_SCHEMA}.{self.name} WHERE {self.covered}"
        return (
            f"(SELECT 'only rebuilt' AS side, * FROM ({rebuilt} EXCEPT {live}) AS r) UNION ALL "
            f"(SELECT 'only live', * FROM ({live} EXCEPT {rebuilt}) AS l) LIMIT 50"
        )


async def create_shadow(conn: asyncpg.Connection, schema: str, tables: list[ShadowTable]) -> None:
    """Empty tables shaped like the live ones, replacing any earlier rebuild."""
    schema = checked(schema)
    if schema == LIVE_SCHEMA:
        raise ValueError("the replay builds fresh tables; it never writes into the live schema")
    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    for table in tables:
        await conn.execute(
            f"CREATE TABLE {schema}.{table.name} "
            f"(LIKE {LIVE_SCHEMA}.{table.name} INCLUDING ALL)"
        )


def _text(value: Any) -> str:
    return "\x00" if value is None else str(value)


async def table_checksum(
    conn: asyncpg.Connection, schema: str, table: ShadowTable
) -> dict[str, Any]:
    """Rows and sha256 of what ``table`` compares, in the caller's transaction."""
    digest = hashlib.sha256()
    rows = 0
    async for row in conn.cursor(table.compared_rows(schema), prefetch=2000):
        digest.update("\x1f".join(_text(v) for v in row.values()).encode() + b"\n")
        rows += 1
    return {"rows": rows, "sha256": digest.hexdigest()}


async def compare_tables(
    conn: asyncpg.Connection, shadow: str, tables: list[ShadowTable]
) -> dict[str, dict[str, Any]]:
    """Per table: the live and rebuilt checksums and whether they are equal."""
    report = {}
    for table in tables:
        if not table.compared:
            continue
        live = await table_checksum(conn, LIVE_SCHEMA, table)
        rebuilt = await table_checksum(conn, shadow, table)
        report[table.name] = {"live": live, "rebuilt": rebuilt, "identical": live == rebuilt}
    return report


Row = dict[str, Any]


@dataclass(frozen=True)
class RowShape:
    """A table's columns with their PostgreSQL types, and its key: how a rebuild loads the
    rows a batch of events touches and writes them back."""

    table: str
    columns: dict[str, str]
    key: tuple[str, ...]

    async def load(
        self, conn: asyncpg.Connection, schema: str, keys: list[tuple[Any, ...]]
    ) -> dict[tuple[Any, ...], Row]:
        if not keys:
            return {}
        arrays = ", ".join(f"${n}::{self.columns[k]}[]" for n, k in enumerate(self.key, 1))
        rows = await conn.fetch(
            f"SELECT {', '.join(self.columns)} FROM {checked(schema)}.{self.table} "
            f"WHERE ({', '.join(self.key)}) IN (SELECT * FROM unnest({arrays}))",
            *([k[i] for k in keys] for i in range(len(self.key))),
        )
        return {tuple(r[k] for k in self.key): dict(r) for r in rows}

    async def save(
        self, conn: asyncpg.Connection, schema: str, rows: list[Row], *, update: bool = True
    ) -> None:
        """Upserts ``rows``; with ``update`` False a row already there is kept (the first
        event wins, as in the stage)."""
        if not rows:
            return
        names = list(self.columns)
        arrays = ", ".join(f"${n}::{self.columns[c]}[]" for n, c in enumerate(names, 1))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c not in self.key)
        updates = updates if update else ""
        await conn.execute(
            f"INSERT INTO {checked(schema)}.{self.table} ({', '.join(names)}) "
            f"SELECT * FROM unnest({arrays}) ON CONFLICT ({', '.join(self.key)}) "
            + (f"DO UPDATE SET {updates}" if updates else "DO NOTHING"),
            *([row[c] for row in rows] for c in names),
        )


# The next offset per (topic, partition) of what a rebuild read.
Positions = dict[tuple[str, int], int]


class ReadModel:
    """A read model the replay rebuilds: its live tables, how a batch of typed events (in
    stream order) changes its shadow copy, and what is left to do at the end of the rebuild
    and at its promotion.  Events of a type it has nothing to do with change nothing."""

    name: str
    migrations: Path
    migrations_table: str
    tables: tuple[ShadowTable, ...]

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[Event]) -> None:
        raise NotImplementedError

    async def apply_read(
        self, conn: asyncpg.Connection, schema: str, events: Sequence[Event | Envelope]
    ) -> None:
        """Every event read; one this version cannot read (an ``Envelope``) is passed by."""
        await self.apply(conn, schema, [e for e in events if isinstance(e, Event)])

    async def finish(self, conn: asyncpg.Connection, schema: str, positions: Positions) -> None:
        """Once every event is applied (``positions``: where the events read end)."""

    async def carry_over(self, conn: asyncpg.Connection, schema: str) -> None:
        """At the promotion, in its transaction: what the live tables hold that the log
        cannot (and the checksum does not cover), copied into the rebuild."""
