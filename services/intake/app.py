"""Wiring: the one place intake's parts meet (settings -> database, Kafka, directory, HTTP)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from services.intake.auth import SecretChecker
from services.intake.directory import Directory, DirectoryFeed
from services.intake.http_api import INTAKE, add_routes
from services.intake.publisher import Publisher
from services.intake.service import Intake
from services.intake.settings import IntakeSettings
from shared.db import create_pool, migrate_database
from shared.domain import ChannelFamily
from shared.http import add_readiness_check, create_service_app, run_background
from shared.kafka import ensure_topics, start_consumer, start_producer
from shared.lag import ConsumerLagMonitor
from shared.sealing import SealingPublicKey
from shared.topics import DEAD_LETTER, DISPATCH, MESSAGE_EVENTS, SUBJECT_FACTS, Topics

HERE = Path(__file__).resolve().parent
MIGRATIONS = HERE / "migrations"
OPENAPI = HERE / "openapi.json"
DIRECTORY_GROUP = "blindpost-intake-directory"

# The topics intake writes or reads.
INTAKE_TOPICS = (MESSAGE_EVENTS, SUBJECT_FACTS, DISPATCH[ChannelFamily.EMAIL], DEAD_LETTER)

FEED = web.AppKey("directory_feed", DirectoryFeed)
LAG = web.AppKey("directory_lag", ConsumerLagMonitor)


def create_app(settings: IntakeSettings) -> web.Application:
    topics = Topics(settings.topic_prefix)
    bootstrap = settings.kafka_bootstrap_servers
    dsn = settings.secret("database_url")
    app = create_service_app("intake", client_max_size=settings.intake_max_body_bytes)
    secrets = SecretChecker(settings.secret_values())
    email_key = SealingPublicKey.parse(settings.seal_public_key_email)
    openapi = OPENAPI.read_bytes()
    json.loads(openapi)  # a broken document fails start-up, not the first reader

    async def resources(app: web.Application) -> AsyncIterator[None]:
        await migrate_database(dsn, MIGRATIONS, "intake_schema_migrations")
        await ensure_topics(bootstrap, topics, INTAKE_TOPICS)
        pool = await create_pool(
            dsn,
            min_size=1,
            max_size=settings.intake_db_pool_size,
            timeout=settings.intake_answer_timeout_s,
        )
        producer = await start_producer(bootstrap, linger_ms=settings.intake_kafka_linger_ms)
        try:
            publisher = Publisher(producer, topics.message_events)
            directory = Directory(
                pool,
                ttl_s=settings.intake_directory_cache_ttl_s,
                max_entries=settings.intake_directory_cache_size,
                timeout_s=settings.intake_answer_timeout_s,
            )
            app[INTAKE] = Intake(
                topics=topics,
                lookup=directory.lookup,
                publish=publisher.publish,
                email_sealing_key=email_key,
                timeout_s=settings.intake_answer_timeout_s,
            )
            group = settings.topic_prefix + DIRECTORY_GROUP
            consumer = await start_consumer(bootstrap, group, [topics.subject_facts])
            app[FEED] = DirectoryFeed(
                consumer,
                pool,
                dead_letter_topic=topics.dead_letter,
                send_dead_letter=lambda output: publisher.publish([output]),
            )
            lag = ConsumerLagMonitor(bootstrap, group, [topics.subject_facts])
            await lag.start()
            add_readiness_check(app, "kafka", publisher.check)
            add_readiness_check(app, "database", lambda: pool.fetchval("SELECT 1"))
            add_readiness_check(app, "directory", _caught_up(app[FEED]))
            app[LAG] = lag
            yield
            await lag.stop()
            await consumer.stop()
        finally:
            await producer.stop()
            await pool.close()

    app.cleanup_ctx.append(resources)
    run_background(app, "directory-feed", lambda: app[FEED].run())
    run_background(app, "directory-lag", lambda: app[LAG].run(settings.metrics_lag_interval_s))
    add_routes(app, secrets, settings.intake_max_body_bytes)

    async def openapi_document(_request: web.Request) -> web.Response:
        return web.Response(body=openapi, content_type="application/json")

    app.router.add_get("/openapi.json", openapi_document)
    return app


def _caught_up(feed: DirectoryFeed) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        if not feed.caught_up.is_set():
            raise RuntimeError("directory still catching up")

    return check
