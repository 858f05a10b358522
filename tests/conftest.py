"""Fixtures every test shares: the real Kafka broker and PostgreSQL server that
``deploy/local/infra.sh`` started (or the ones ``KAFKA_BOOTSTRAP_SERVERS`` /
``BLINDPOST_ADMIN_DATABASE_URL`` name), isolated per test by a topic prefix and a scratch
database of its own.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka import ensure_topics
from shared.topics import ALL_TOPICS, Topics
from tests.support.env import local_env

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = os.environ.get(
    "BLINDPOST_ADMIN_DATABASE_URL",
    "postgresql://blindpost_admin:blindpost_admin_local@127.0.0.1:5432/postgres",
)


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


async def delete_topics_with_prefix(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


def _dsn_for(role: str, password: str, database: str) -> str:
    base = ADMIN_DSN.rsplit("@", 1)[1].rsplit("/", 1)[0]
    return f"postgresql://{role}:{password}@{base}/{database}"


async def _scratch_database(role: str, password: str) -> AsyncIterator[str]:
    """A fresh, empty database owned by ``role`` that only ``role`` may connect to."""
    name = f"bp_test_{role.removeprefix('blindpost_')}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f"CREATE DATABASE {name} OWNER {role}")
        await admin.execute(f"REVOKE ALL ON DATABASE {name} FROM PUBLIC")
    finally:
        await admin.close()
    owner_conn = await asyncpg.connect(_dsn_for("blindpost_admin", "blindpost_admin_local", name))
    try:
        await owner_conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        await owner_conn.execute(f"ALTER SCHEMA public OWNER TO {role}")
    finally:
        await owner_conn.close()
    yield _dsn_for(role, password, name)
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def events_dsn() -> AsyncIterator[str]:
    """A scratch event-store database, owned by the event store's role."""
    async for dsn in _scratch_database("blindpost_events", "blindpost_events_local"):
        yield dsn


@pytest.fixture
async def vault_dsn() -> AsyncIterator[str]:
    """A scratch vault database, owned by the vault's role."""
    async for dsn in _scratch_database("blindpost_vault", "blindpost_vault_local"):
        yield dsn


@pytest.fixture
def base_env(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The local settings (deploy/local/blindpost.env) pointed at this test's topics and
    folders.  Tests add their databases and ports to it."""
    env = local_env()
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "BLINDPOST_TOPIC_PREFIX": topic_prefix,
            "BLINDPOST_VAR_DIR": str(tmp_path / "var"),
            "BLINDPOST_LOG_LEVEL": "INFO",
        }
    )
    yield env
