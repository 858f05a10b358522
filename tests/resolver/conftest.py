"""The resolver claims each message in its own database before it reads the vault."""

from __future__ import annotations

import pytest


@pytest.fixture
def vault_env(base_env: dict[str, str], vault_dsn: str, events_dsn: str) -> dict[str, str]:
    """The suite's ``vault_env`` plus a scratch event store for the resolver's read claims."""
    return {**base_env, "BLINDPOST_VAULT_DATABASE_URL": vault_dsn, "DATABASE_URL": events_dsn}
