"""Wiring of the projector process: migrations, the pool, the producer for dead letters and
redactions, the consumer and its background tasks, and the health endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from services.eventstore import retention
from services.eventstore.consumer import Projector
from services.eventstore.settings import EventStoreSettings
from shared.db import postgres_pool
from shared.http import add_readiness_check, create_service_app
from shared.kafka import RecoveringProducer, kafka_consumer, kafka_producer, prepare_topics
from shared.lag import monitor_lag
from shared.lifecycle import provide, run_background, stopping
from shared.topics import DEAD_LETTER, MESSAGE_EVENTS, VAULT_AUDIT

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATIONS_TABLE = "eventstore_schema_migrations"

POOL = web.AppKey("pool", asyncpg.Pool)
PRODUCER = web.AppKey("producer", RecoveringProducer)
CONSUMER = web.AppKey("consumer", AIOKafkaConsumer)
PROJECTOR = web.AppKey("projector", Projector)


def event_store_pool(
    settings: EventStoreSettings, max_size: int = 4
) -> AbstractAsyncContextManager[asyncpg.Pool]:
    """The event store's pool, migrated: for the projector and the operator commands."""
    return postgres_pool(
        settings.database,
        migrations=MIGRATIONS,
        migrations_table=MIGRATIONS_TABLE,
        min_size=1,
        max_size=max_size,
    )


def create_app(settings: EventStoreSettings) -> web.Application:
    app = create_service_app("projector", **settings.app_options())
    kafka = settings.kafka
    topics = kafka.topics
    group = kafka.group("projector")

    @asynccontextmanager
    async def pool() -> AsyncIterator[asyncpg.Pool]:
        await prepare_topics(kafka, (MESSAGE_EVENTS, VAULT_AUDIT, DEAD_LETTER))
        async with event_store_pool(settings) as pool:
            yield pool

    @asynccontextmanager
    async def projector() -> AsyncIterator[Projector]:
        projector = Projector(
            pool=app[POOL],
            consumer=app[CONSUMER],
            producer=app[PRODUCER],
            topics=topics,
            max_records=settings.projector_max_records,
        )
        projector.subscribe()
        yield projector

    provide(app, POOL, pool)
    provide(app, PRODUCER, lambda: kafka_producer(kafka))
    provide(
        app,
        CONSUMER,
        lambda: kafka_consumer(
            kafka,
            group,
            max_poll_records=settings.projector_max_records,
            session_timeout_ms=settings.projector_session_timeout_ms,
        ),
    )
    provide(app, PROJECTOR, projector)
    run_background(app, "projector", lambda: app[PROJECTOR].run(stopping(app)), drains=True)
    monitor_lag(app, kafka, group, [topics.message_events, topics.vault_audit])

    async def remove_old_bodies() -> None:
        await retention.run_periodically(
            app[POOL],
            app[PRODUCER],
            topics.message_events,
            settings.body_retention_days,
            settings.retention_interval_s,
            settings.retention_batch,
        )

    run_background(app, "body-retention", remove_old_bodies)
    add_readiness_check(app, "database", lambda: app[POOL].fetchval("SELECT 1"))
    # Halted when the log no longer matches the stored positions (continuity.py).
    add_readiness_check(app, "log", lambda: app[PROJECTOR].continuity.readiness())
    add_readiness_check(app, "producer", lambda: app[PRODUCER].check())
    return app
