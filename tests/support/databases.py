"""Scratch databases on the PostgreSQL server ``deploy/local/infra.sh`` set up (or the one
``BLINDPOST_ADMIN_DATABASE_URL`` names), for tests and benchmarks alike."""

from __future__ import annotations

import os
import uuid

import asyncpg

ADMIN_DSN = os.environ.get(
    "BLINDPOST_ADMIN_DATABASE_URL",
    "postgresql://blindpost_admin:blindpost_admin_local@127.0.0.1:5432/postgres",
)
# Local-only passwords of the roles deploy/local/infra.sh creates.
ROLE_PASSWORDS = {
    "blindpost_admin": "blindpost_admin_local",
    "blindpost_events": "blindpost_events_local",
    "blindpost_vault": "blindpost_vault_local",
    "blindpost_vault_owner": "blindpost_vault_owner_local",
}


def dsn_for(role: str, database: str) -> str:
    """``database`` on the admin DSN's server, as ``role``."""
    server = ADMIN_DSN.rsplit("@", 1)[1].rsplit("/", 1)[0]
    return f"postgresql://{role}:{ROLE_PASSWORDS[role]}@{server}/{database}"


async def create_database(
    label: str, role: str, *, runtime: str | None = None
) -> tuple[str, str]:
    """A fresh, empty database owned by ``role`` that only ``role`` (and ``runtime``, a role
    that connects but owns nothing) may connect to: (its name, a DSN as ``runtime`` if
    given, else as ``role``)."""
    name = f"bp_{label}_{role.removeprefix('blindpost_')}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f"CREATE DATABASE {name} OWNER {role}")
        await admin.execute(f"REVOKE ALL ON DATABASE {name} FROM PUBLIC")
        if runtime:
            await admin.execute(f"GRANT CONNECT ON DATABASE {name} TO {runtime}")
    finally:
        await admin.close()
    owner = await asyncpg.connect(dsn_for("blindpost_admin", name))
    try:
        await owner.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        await owner.execute(f"ALTER SCHEMA public OWNER TO {role}")
    finally:
        await owner.close()
    return name, dsn_for(runtime or role, name)


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


async def fetch(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """One query on its own connection (for a test outside any pool)."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()
