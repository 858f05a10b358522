"""One resource per cleanup context: a start-up that fails half-way closes exactly what it
had opened, in reverse, and leaves nothing behind (a pool's connections included)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from aiohttp import web

from shared.db import postgres_pool
from shared.http import create_service_app
from shared.lifecycle import SHUTDOWN, provide
from tests.conftest import ADMIN_DSN


class BrokenDependency(RuntimeError):
    pass


def _tracked(name: str, journal: list[str], fail: bool = False):
    @asynccontextmanager
    async def resource() -> AsyncIterator[str]:
        if fail:
            raise BrokenDependency(name)
        journal.append(f"open {name}")
        try:
            yield name
        finally:
            journal.append(f"close {name}")

    return resource


async def _start(app: web.Application) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    return runner


async def test_a_failed_start_closes_only_what_started_in_reverse_order():
    journal: list[str] = []
    app = create_service_app("example")
    first, second, third = (web.AppKey(name, str) for name in ("first", "second", "third"))
    provide(app, first, _tracked("first", journal))
    provide(app, second, _tracked("second", journal))
    provide(app, third, _tracked("third", journal, fail=True))

    with pytest.raises(BrokenDependency):
        await _start(app)
    # aiohttp runs the cleanups of the contexts that had started when start-up failed.
    await app.cleanup()

    assert journal == ["open first", "open second", "close second", "close first"]


async def test_a_later_resource_failing_leaves_no_database_connection_open(events_dsn):
    database = events_dsn.rsplit("/", 1)[1]
    pool_key = web.AppKey("pool", asyncpg.Pool)
    app = create_service_app("example")
    provide(app, pool_key, lambda: postgres_pool(events_dsn, min_size=3, max_size=3))
    provide(app, web.AppKey("broker", str), _tracked("broker", [], fail=True))

    with pytest.raises(BrokenDependency):
        await _start(app)
    await app.cleanup()

    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        open_connections = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database
        )
    finally:
        await admin.close()
    assert open_connections == 0


async def test_once_shutdown_begins_readiness_fails_and_draining_work_finishes_its_unit():
    from aiohttp.test_utils import TestClient, TestServer

    from shared.lifecycle import run_background, stopping

    app = create_service_app("example", shutdown_timeout_s=5)
    finished: list[str] = []

    async def drain_loop() -> None:
        await stopping(app).wait()
        await asyncio.sleep(0.05)  # the unit of work in hand
        finished.append("committed")

    run_background(app, "loop", drain_loop, drains=True)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/readyz")).status == 200
        app[SHUTDOWN].begin()
        not_ready = await client.get("/readyz")
        assert not_ready.status == 503
        assert (await not_ready.json())["checks"]["running"] == "RuntimeError"
    assert finished == ["committed"]
