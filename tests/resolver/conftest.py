"""The vault the resolver asks: the real app, in process, over a scratch database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.vault.support import VaultClient, delete_topics_with_prefix, running_vault


@pytest.fixture
def vault_env(base_env: dict[str, str], vault_dsn: str) -> dict[str, str]:
    return {**base_env, "BLINDPOST_VAULT_DATABASE_URL": vault_dsn}


@pytest.fixture
async def vault(vault_env: dict[str, str], topics) -> AsyncIterator[VaultClient]:
    async with running_vault(vault_env) as client:
        yield client


@pytest.fixture(autouse=True)
async def _drop_test_topics(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    uses_topics = "topics" in request.fixturenames
    if uses_topics:
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        prefix = request.getfixturevalue("topic_prefix")
    yield
    if uses_topics:
        await delete_topics_with_prefix(bootstrap, prefix)
