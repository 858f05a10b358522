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

import aiohttp
import pytest

from tests.intake.private_infra import KAFKA_LIBS, PrivateKafka, PrivatePostgres
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess


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


@asynccontextmanager
async def postgres_crashed(
    postgres: PrivatePostgres, service: ServiceProcess
) -> AsyncIterator[None]:
    """``postgres`` dies under the running ``service`` (an immediate stop, as a crash); once
    the service's readiness has failed, the server comes back refusing connections (57P03,
    as while it recovers) for the body of the block, and takes them again after it."""
    await postgres.stop("immediate")
    async with aiohttp.ClientSession() as session:

        async def not_ready() -> bool:
            service.running_pid()  # an exit is a failure, not "not ready"
            async with session.get(f"http://127.0.0.1:{service.port}/readyz") as response:
                return response.status == 503

        await eventually(not_ready, within=15, what="readiness to fail", details=service.log_tail)
    await postgres.start_refusing()
    yield
    await postgres.stop_refusing()
