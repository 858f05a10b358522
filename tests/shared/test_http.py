"""The ops endpoints every service has."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import Counter

from shared.http import add_readiness_check, create_service_app
from tests.support.ports import free_port

PROBE = Counter("blindpost_test_probe_total", "a counter only this test increments")


async def test_healthz_readyz_and_metrics():
    app = create_service_app("example")
    state = {"kafka_up": True}

    async def kafka() -> None:
        if not state["kafka_up"]:
            raise ConnectionError("postgresql://user:secret@db/x unreachable")

    async def slow() -> None:
        await asyncio.sleep(0)

    add_readiness_check(app, "kafka", kafka)
    add_readiness_check(app, "database", slow)
    PROBE.inc()
    async with TestClient(TestServer(app)) as client:
        health = await client.get("/healthz")
        assert health.status == 200 and (await health.json())["service"] == "example"

        ready = await client.get("/readyz")
        assert ready.status == 200
        assert await ready.json() == {
            "status": "ready",
            "checks": {"running": "ok", "kafka": "ok", "database": "ok"},
        }

        state["kafka_up"] = False
        not_ready = await client.get("/readyz")
        body = await not_ready.text()
        assert not_ready.status == 503
        assert '"kafka": "ConnectionError"' in body and "secret" not in body

        metrics = await (await client.get("/metrics")).text()
        assert "blindpost_test_probe_total 1.0" in metrics


async def test_metrics_on_their_own_port_leave_the_main_one() -> None:
    port = free_port()
    app = create_service_app("example", metrics_port=port)
    PROBE.inc()
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/metrics")).status == 404
        assert (await client.get("/healthz")).status == 200
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                assert "blindpost_test_probe_total" in await response.text()
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 404
