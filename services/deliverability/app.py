"""Wiring the deliverability service: the faust app (started in this process's loop, after
the event log is checked), its tables exported at /metrics, and the lag of its group."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from aiohttp import web
from faust.tables.manager import TableManager
from prometheus_client import REGISTRY

from services.deliverability.exporter import DeliverabilityCollector
from services.deliverability.settings import DeliverabilitySettings
from services.deliverability.streams import STAGE, Deliverability, build
from shared.http import add_readiness_check, create_service_app
from shared.kafka import prepare_topics, topics_ready
from shared.lag import monitor_lag
from shared.lifecycle import provide, run_background, stopping
from shared.topics import MESSAGE_EVENTS

SERVICE = "deliverability"
STREAMS = web.AppKey("streams", Deliverability)


def create_app(settings: DeliverabilitySettings) -> web.Application:
    kafka = settings.kafka
    app = create_service_app(SERVICE, **settings.app_options())

    @asynccontextmanager
    async def streams() -> AsyncIterator[Deliverability]:
        await prepare_topics(kafka, (MESSAGE_EVENTS,))
        (partitions,) = await topics_ready(kafka, [kafka.topics.message_events])
        running = build(settings, partitions)
        collector = DeliverabilityCollector(running)
        await running.declare_topics()
        await running.app.start()
        REGISTRY.register(collector)
        try:
            yield running
        finally:
            REGISTRY.unregister(collector)
            await running.app.stop()
            # faust's data directory (unused by the memory store, but created).
            shutil.rmtree(running.app.conf.datadir, ignore_errors=True)

    async def until_stopped() -> None:
        await app[STREAMS].app.wait_until_stopped()
        if not stopping(app).is_set():
            # A crashed agent stops the faust app: stop the process, the orchestrator
            # restarts it (tables recover from their changelogs).
            raise RuntimeError("stream processing stopped")

    async def recovered() -> None:
        faust_app = app[STREAMS].app
        recovery = cast(TableManager, faust_app.tables).recovery
        if faust_app.rebalancing or not recovery.completed.is_set():
            raise RuntimeError("tables recovering")

    provide(app, STREAMS, streams)
    run_background(app, "streams", until_stopped)
    monitor_lag(app, kafka, kafka.group(STAGE), [kafka.topics.message_events])
    add_readiness_check(app, "tables", recovered)
    return app
