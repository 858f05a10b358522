"""Migrations and the segregation of the two databases, on the real PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg
import pytest

from shared.db import MigrationError, migrate_database
from tests.support.databases import dsn_for

EXAMPLE = Path(__file__).parent / "migrations_example"


async def test_migrations_apply_on_an_empty_database_and_reapply_as_a_no_op(events_dsn):
    assert await migrate_database(events_dsn, EXAMPLE) == ["0001_create_things", "0002_add_colour"]
    assert await migrate_database(events_dsn, EXAMPLE) == []
    conn = await asyncpg.connect(events_dsn)
    try:
        await conn.execute("INSERT INTO things (id, name, colour) VALUES (1, 'a', 'red')")
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 2
    finally:
        await conn.close()


async def test_an_edited_applied_migration_is_refused(events_dsn, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(EXAMPLE, folder)
    await migrate_database(events_dsn, folder)
    (folder / "0001_create_things.sql").write_text("CREATE TABLE things (id int);")
    with pytest.raises(MigrationError, match="0001_create_things was changed"):
        await migrate_database(events_dsn, folder)


async def test_each_role_is_shut_out_of_the_other_database(events_dsn, vault_dsn):
    await migrate_database(events_dsn, EXAMPLE)
    await migrate_database(vault_dsn, EXAMPLE)
    events_db = events_dsn.rsplit("/", 1)[1]
    vault_db = vault_dsn.rsplit("/", 1)[1]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(dsn_for("blindpost_vault", events_db))
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(dsn_for("blindpost_events", vault_db))


@pytest.mark.parametrize(
    ("role", "other_database"),
    [("blindpost_vault", "blindpost_events"), ("blindpost_events", "blindpost_vault")],
)
async def test_the_installed_databases_are_segregated_too(admin_dsn, role, other_database):
    """On the server ``admin_dsn`` names (asking for it puts this test in the integration
    tier: it uses no scratch database)."""
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(dsn_for(role, other_database))


async def test_even_with_connect_granted_tables_stay_unreadable(events_dsn):
    """Defence in depth: table privileges alone also keep the vault role out."""
    await migrate_database(events_dsn, EXAMPLE)
    events_db = events_dsn.rsplit("/", 1)[1]
    admin = await asyncpg.connect(dsn_for("blindpost_admin", events_db))
    try:
        await admin.execute(f"GRANT CONNECT ON DATABASE {events_db} TO blindpost_vault")
        await admin.execute("GRANT USAGE ON SCHEMA public TO blindpost_vault")
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn_for("blindpost_vault", events_db))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM things")
    finally:
        await conn.close()
