"""The vault's tests run on the production layout of its database: an owner role owns the
schema and runs the migrations, the vault connects as a runtime role that owns nothing
(``vault_dsn``); ``vault_owner_dsn`` and ``vault_superuser_dsn`` reach the same database as
the owner and as a superuser."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.databases import create_database, drop_database, dsn_for

OWNER = "blindpost_vault_owner"


@pytest.fixture
async def vault_database() -> AsyncIterator[str]:
    name, _ = await create_database("test", OWNER, runtime="blindpost_vault")
    yield name
    await drop_database(name)


@pytest.fixture
def vault_dsn(vault_database: str) -> str:
    return dsn_for("blindpost_vault", vault_database)


@pytest.fixture
def vault_owner_dsn(vault_database: str, vault_dsn: str) -> str:
    return dsn_for(OWNER, vault_database)


@pytest.fixture
def vault_superuser_dsn(vault_database: str, vault_dsn: str) -> str:
    return dsn_for("blindpost_admin", vault_database)


@pytest.fixture
def vault_env(base_env: dict[str, str], vault_dsn: str, vault_owner_dsn: str) -> dict[str, str]:
    return {
        **base_env,
        "BLINDPOST_VAULT_DATABASE_URL": vault_dsn,
        "BLINDPOST_VAULT_OWNER_DATABASE_URL": vault_owner_dsn,
    }
