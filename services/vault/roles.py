"""Two database roles for the vault: an owner that runs the migrations and owns every table,
and the runtime role the service connects as.  The runtime role may read and write the
subjects, but of the audit log it may only append rows and advance the head: it cannot
rewrite a row, delete one, or disable the trigger that forbids it (only an owner can)."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from shared.db import load_migrations, migrate_database
from shared.logging import get_logger

log = get_logger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_TABLE = "vault_schema_migrations"

# Run as the owner after every migration, so tables added later are covered too.  The
# default privileges make a table a later migration creates writable by the runtime role;
# the audit tables are then narrowed again here.
_RUNTIME_GRANTS = """
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role};
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, audit_checkpoints FROM {role};
REVOKE INSERT, DELETE, TRUNCATE ON audit_head FROM {role};
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_anchor, {migrations} FROM {role};
DO $$ BEGIN
    -- Bulk imports stage their lines in a temporary table.
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO {role}', current_database());
END $$;
"""


class SchemaNotReady(RuntimeError):
    """The runtime role found migrations not yet applied (and may not apply them)."""


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def role_of(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SELECT current_user"))
    finally:
        await conn.close()


async def grant_runtime(owner_dsn: str, runtime_role: str) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        if await conn.fetchval("SELECT current_user") == runtime_role:
            return
        sql = _RUNTIME_GRANTS.format(role=quote_ident(runtime_role), migrations=MIGRATION_TABLE)
        async with conn.transaction():
            await conn.execute(sql)
    finally:
        await conn.close()


async def prepare_schema(runtime_dsn: str, owner_dsn: str | None) -> None:
    """Bring the schema up to date.  With the owner's DSN: migrate as the owner and grant the
    runtime role its share.  Without it (the runtime pod, whose migration step ran first):
    only check that nothing is pending.  A runtime role that owns the schema (the layout
    before the owner role) still migrates, with a warning: its audit log is not anchored."""
    if owner_dsn:
        await migrate_database(owner_dsn, MIGRATIONS, MIGRATION_TABLE)
        await grant_runtime(owner_dsn, await role_of(runtime_dsn))
        return
    conn = await asyncpg.connect(runtime_dsn)
    try:
        may_create = await conn.fetchval("SELECT has_schema_privilege('public', 'CREATE')")
        if not may_create:
            applied = await conn.fetch(f"SELECT version FROM {MIGRATION_TABLE}")  # noqa: S608
            missing = {m.version for m in load_migrations(MIGRATIONS)} - {
                row["version"] for row in applied
            }
            if missing:
                raise SchemaNotReady(
                    f"vault migrations {sorted(missing)} are not applied: run "
                    "`blindpost vault migrate` with BLINDPOST_VAULT_OWNER_DATABASE_URL"
                )
            return
    finally:
        await conn.close()
    log.warning(
        "the vault's runtime role owns its schema: it could rewrite the audit log; "
        "set BLINDPOST_VAULT_OWNER_DATABASE_URL so that an owner role runs the migrations"
    )
    await migrate_database(runtime_dsn, MIGRATIONS, MIGRATION_TABLE)
