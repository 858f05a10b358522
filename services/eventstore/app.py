"""Wiring of the projector process: migrations, the pool, the producer for dead letters and
redactions, the consumer and its background tasks, and the health endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.eventstore import retention
from services.eventstore.projector import Projector
from services.eventstore.settings import EventStoreSettings, projector_group
from shared.db import create_pool, migrate_database
from shared.http import add_readiness_check, create_service_app, run_background
from shared.kafka import ensure_topics, start_consumer, start_producer
from shared.lag import ConsumerLagMonitor
from shared.topics import DEAD_LETTER, MESSAGE_EVENTS, VAULT_AUDIT, Topics

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATIONS_TABLE = "eventstore_schema_migrations"

POOL = web.AppKey("pool", asyncpg.Pool)
PRODUCER = web.AppKey("producer", AIOKafkaProducer)
CONSUMER = web.AppKey("consumer", AIOKafkaConsumer)


async def open_pool(settings: EventStoreSettings) -> asyncpg.Pool:
    await migrate_database(settings.database_url, MIGRATIONS, MIGRATIONS_TABLE)
    return await create_pool(settings.database_url, min_size=1, max_size=4)


def create_app(settings: EventStoreSettings) -> web.Application:
    app = create_service_app("projector")
    topics = Topics(settings.topic_prefix)
    bootstrap = settings.kafka_bootstrap_servers
    group = projector_group(settings.topic_prefix)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        await ensure_topics(bootstrap, topics, (MESSAGE_EVENTS, VAULT_AUDIT, DEAD_LETTER))
        app[POOL] = await open_pool(settings)
        app[PRODUCER] = await start_producer(bootstrap)
        app[CONSUMER] = await start_consumer(
            bootstrap,
            group,
            [],
            max_poll_records=settings.projector_max_records,
            session_timeout_ms=settings.projector_session_timeout_ms,
        )
        try:
            yield
        finally:
            await app[CONSUMER].stop()
            await app[PRODUCER].stop()
            await app[POOL].close()

    app.cleanup_ctx.append(resources)

    async def project() -> None:
        projector = Projector(
            pool=app[POOL],
            consumer=app[CONSUMER],
            producer=app[PRODUCER],
            topics=topics,
            max_records=settings.projector_max_records,
        )
        projector.subscribe()
        await projector.run()

    async def measure_lag() -> None:
        monitor = ConsumerLagMonitor(
            bootstrap, group, [topics.message_events, topics.vault_audit]
        )
        await monitor.start()
        try:
            await monitor.run(settings.metrics_lag_interval_s)
        finally:
            await monitor.stop()

    async def remove_old_bodies() -> None:
        await retention.run_periodically(
            app[POOL],
            app[PRODUCER],
            topics.message_events,
            settings.body_retention_days,
            settings.retention_interval_s,
            settings.retention_batch,
        )

    run_background(app, "projector", project)
    run_background(app, "consumer-lag", measure_lag)
    run_background(app, "body-retention", remove_old_bodies)

    async def database_ready() -> None:
        async with app[POOL].acquire() as conn:
            await conn.fetchval("SELECT 1")

    add_readiness_check(app, "database", database_ready)
    add_readiness_check(app, "producer", lambda: app[PRODUCER].check())
    return app
