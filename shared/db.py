"""asyncpg pools and a versioned SQL migration runner.

Migrations are files ``NNNN_description.sql`` in one folder per database.  Each is applied
once, in order, in its own transaction, under an advisory lock (several replicas may start
together); its checksum is recorded, and a changed applied file is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from shared.logging import get_logger
from shared.settings import PostgresSettings

log = get_logger(__name__)

MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# An arbitrary constant: only migration runners take this lock.
_LOCK_KEY = 0x626C696E64  # "blind"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(folder: Path) -> list[Migration]:
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_description.sql")
        migrations.append(Migration(int(match.group(1)), path.stem, path.read_text()))
    versions = [m.version for m in migrations]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"{folder}: two migrations share a version number")
    return migrations


async def migrate(
    conn: asyncpg.Connection, folder: Path, table: str = "schema_migrations"
) -> list[str]:
    """Apply what is missing; returns the names applied (empty when up to date)."""
    if not re.fullmatch(r"[a-z_]+", table):
        raise MigrationError("migration table name must be lower-case letters and underscores")
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {table} (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = {
            r["version"]: r
            for r in await conn.fetch(f"SELECT * FROM {table}")  # noqa: S608 - name checked above
        }
        for migration in load_migrations(folder):
            if migration.version in applied:
                if applied[migration.version]["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.name} was changed after it was applied; "
                        "add a new migration instead of editing an old one"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    # The table name was checked against a strict pattern above; values are
                    # parameters.
                    f"INSERT INTO {table} (version, name, checksum) VALUES ($1, $2, $3)",  # noqa: S608
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("migration applied", migration=migration.name)
            applied_now.append(migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def keep_session(_conn: asyncpg.Connection) -> None:
    """A pool's ``reset`` for a service none of whose pooled statements leaves session state
    behind (no SET, LISTEN, session advisory lock or open cursor): a released connection
    skips asyncpg's reset query, one more round trip on both sides for every borrow.
    asyncpg still rolls back a transaction left open before calling this."""


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, **kwargs: object
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, command_timeout=10, **kwargs
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def postgres_pool(
    database: PostgresSettings | str,
    *,
    migrations: Path | None = None,
    migrations_table: str = "schema_migrations",
    close_timeout_s: float = 5.0,
    **pool_options: Any,
) -> AsyncIterator[asyncpg.Pool]:
    """A service's pool, its migrations applied first.  Closing waits for borrowed
    connections at most ``close_timeout_s`` (a stuck query must not hold a shutdown past
    the orchestrator's grace period), then terminates them."""
    dsn = database if isinstance(database, str) else database.dsn()
    if migrations is not None:
        await migrate_database(dsn, migrations, migrations_table)
    pool = await create_pool(dsn, **pool_options)
    try:
        yield pool
    finally:
        try:
            await asyncio.wait_for(pool.close(), close_timeout_s)
        except TimeoutError:
            log.warning("database pool did not close in time; terminating its connections")
            pool.terminate()


async def migrate_database(dsn: str, folder: Path, table: str = "schema_migrations") -> list[str]:
    """Components sharing one database each keep their own ``table`` of applied versions."""
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn, folder, table)
    finally:
        await conn.close()
