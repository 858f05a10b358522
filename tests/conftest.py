"""Fixtures every test shares: the real Kafka broker and PostgreSQL server that
``deploy/local/infra.sh`` started (or the ones ``KAFKA_BOOTSTRAP_SERVERS`` /
``BLINDPOST_ADMIN_DATABASE_URL`` name, or containers with ``BLINDPOST_TEST_INFRA=containers``),
isolated per test by a topic prefix and a scratch
database of its own.

Two tiers: a test that (even transitively) asks for one of ``INFRASTRUCTURE_FIXTURES`` is
marked ``integration``; every other one is a unit test, and ``make unit`` runs only those,
with no broker and no database needed.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# First: with BLINDPOST_TEST_INFRA=containers it starts Kafka and PostgreSQL containers and
# sets the environment that the modules below read.
import tests.containers.infra  # noqa: F401
from shared.kafka import ensure_topics
from shared.topics import ALL_TOPICS, Topics
from tests.support.databases import ADMIN_DSN, create_database, drop_database
from tests.support.env import local_env
from tests.support.kafka import delete_topics_with_prefix
from tests.vault.support import VaultClient, running_vault

ROOT = Path(__file__).resolve().parent.parent

# The fixtures that reach a broker, a database or a private copy of one. Every fixture that
# starts a service for a test depends on one of these, so the rule below catches it too.
INFRASTRUCTURE_FIXTURES = frozenset(
    {
        "kafka_bootstrap",
        "admin_dsn",
        "topic_prefix",
        "topics",
        "events_dsn",
        "vault_dsn",
        "base_env",
        "private_kafka",
        "private_postgres",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INFRASTRUCTURE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
    # Last: it needs kube-apiserver, which `make test` builds in the background meanwhile.
    items.sort(key=lambda item: item.get_closest_marker("needs_kube_build") is not None)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


@pytest.fixture
async def topic_prefix(kafka_bootstrap: str) -> AsyncIterator[str]:
    """A prefix of this test's own; every topic named with it is deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    yield prefix
    await delete_topics_with_prefix(kafka_bootstrap, prefix)


# Production topics have 8 partitions; tests use 2 (enough to exercise more than one
# partition) and delete them afterwards, so a full run does not leave tens of thousands
# of partition folders on the single local broker.
TEST_PARTITIONS = 2


@pytest.fixture
async def topics(kafka_bootstrap: str, topic_prefix: str) -> Topics:
    topics = Topics(topic_prefix)
    specs = [dataclasses.replace(spec, partitions=TEST_PARTITIONS) for spec in ALL_TOPICS]
    await ensure_topics(kafka_bootstrap, topics, specs)
    return topics


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    """The installed server, for tests of what infra.sh itself set up."""
    return ADMIN_DSN


async def _scratch_database(role: str) -> AsyncIterator[str]:
    name, dsn = await create_database("test", role)
    yield dsn
    await drop_database(name)


@pytest.fixture
async def events_dsn() -> AsyncIterator[str]:
    """A scratch event-store database, owned by the event store's role."""
    async for dsn in _scratch_database("blindpost_events"):
        yield dsn


@pytest.fixture
async def vault_dsn() -> AsyncIterator[str]:
    """A scratch vault database, owned by the vault's role."""
    async for dsn in _scratch_database("blindpost_vault"):
        yield dsn


@pytest.fixture
def base_env(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The local settings (deploy/local/blindpost.env) pointed at this test's topics and
    folders.  Tests add their databases and ports to it."""
    env = local_env()
    # The local owner's DSN names the local database: a test gives its own, or none.
    env.pop("BLINDPOST_VAULT_OWNER_DATABASE_URL")
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "BLINDPOST_TOPIC_PREFIX": topic_prefix,
            "BLINDPOST_VAR_DIR": str(tmp_path / "var"),
            "BLINDPOST_LOG_LEVEL": "INFO",
        }
    )
    yield env


@pytest.fixture
def vault_env(base_env: dict[str, str], vault_dsn: str) -> dict[str, str]:
    return {**base_env, "BLINDPOST_VAULT_DATABASE_URL": vault_dsn}


@pytest.fixture
async def vault(vault_env: dict[str, str], topics: Topics) -> AsyncIterator[VaultClient]:
    """A real vault (the production app, in process, on a free port) over a scratch
    database and this test's topics."""
    async with running_vault(vault_env) as client:
        yield client
