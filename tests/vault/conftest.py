"""A real vault (the production app, in process, on a free port) over a scratch database
and this test's topics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.vault.support import VaultClient, running_vault


@pytest.fixture
def vault_env(base_env: dict[str, str], vault_dsn: str) -> dict[str, str]:
    return {**base_env, "BLINDPOST_VAULT_DATABASE_URL": vault_dsn}


@pytest.fixture
async def vault(vault_env: dict[str, str], topics) -> AsyncIterator[VaultClient]:
    async with running_vault(vault_env) as client:
        yield client
