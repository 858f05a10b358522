"""A Kafka broker and a PostgreSQL server of a test's own (``tests/intake/private_infra.py``)
as async context managers, for tests that stop, start or kill them: the shared ones other
tests are using are never touched."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.intake.private_infra import KAFKA_LIBS, PrivateKafka, PrivatePostgres


@asynccontextmanager
async def private_kafka(home: Path) -> AsyncIterator[PrivateKafka]:
    """Skips the test when the Kafka jars or java are missing."""
    if not (KAFKA_LIBS / ".complete").exists() or shutil.which("java") is None:
        pytest.skip("the Kafka jars (deploy/local/infra.sh up) and java are needed")
    kafka = PrivateKafka(home)
    await asyncio.to_thread(kafka.format)
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


@asynccontextmanager
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    """Skips the test when it cannot run initdb as postgres with Debian's binaries."""
    if os.geteuid() != 0 or not os.path.isdir("/usr/lib/postgresql"):  # noqa: ASYNC240
        pytest.skip("needs root (to run initdb as postgres) and Debian's PostgreSQL binaries")
    postgres = PrivatePostgres()
    try:
        await postgres.create()
        yield postgres
    finally:
        postgres.destroy()


async def add_database(postgres: PrivatePostgres, role: str, password: str) -> str:
    """Another role owning a database of its own name on ``postgres``; its DSN."""
    return await postgres.add_database(role, password)
