"""Wiring: the one place intake's parts meet (settings -> database, Kafka, directory, HTTP)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from services.intake.auth import SecretChecker
from services.intake.consumer import DirectoryFeed
from services.intake.directory import Directory
from services.intake.http_api import INTAKE, add_routes
from services.intake.publisher import Publisher
from services.intake.refusals import REFUSALS, refusals
from services.intake.service import Intake
from services.intake.settings import IntakeSettings
from shared.cim_template import CimTemplate
from shared.content_keys import SEAL, ContentKeys, content_keys
from shared.db import postgres_pool
from shared.domain import Channel
from shared.http import add_readiness_check, create_service_app
from shared.kafka import RecoveringProducer, kafka_consumer, kafka_producer, prepare_topics
from shared.lag import monitor_lag
from shared.lifecycle import provide, run_background, stopping
from shared.sealing import SealingPublicKey
from shared.topics import DEAD_LETTER, DISPATCH, MESSAGE_EVENTS, SUBJECT_FACTS

HERE = Path(__file__).resolve().parent
MIGRATIONS = HERE / "migrations"
OPENAPI = HERE / "openapi.json"

# The topics intake writes or reads.
INTAKE_TOPICS = (MESSAGE_EVENTS, SUBJECT_FACTS, DISPATCH[Channel.EMAIL], DEAD_LETTER)

POOL = web.AppKey("pool", asyncpg.Pool)
PRODUCER = web.AppKey("producer", RecoveringProducer)
PUBLISHER = web.AppKey("publisher", Publisher)
DIRECTORY_CONSUMER = web.AppKey("directory_consumer", AIOKafkaConsumer)
FEED = web.AppKey("directory_feed", DirectoryFeed)
CONTENT_KEYS = web.AppKey("content_keys", ContentKeys)


def create_app(settings: IntakeSettings) -> web.Application:
    kafka = settings.kafka
    topics = kafka.topics
    group = kafka.group("intake-directory")
    app = create_service_app(
        "intake",
        **settings.app_options(),
        client_max_size=settings.intake_max_body_bytes,
    )
    secrets = SecretChecker(settings.secret_values())
    email_key = SealingPublicKey.parse(settings.seal_public_key_email)
    tickets = settings.ticket_signer()  # a bad key stops the process at once
    cim_template = CimTemplate.from_setting(settings.cim_template)
    openapi = OPENAPI.read_bytes()
    json.loads(openapi)  # a broken document fails start-up, not the first reader

    @asynccontextmanager
    async def pool() -> AsyncIterator[asyncpg.Pool]:
        await prepare_topics(kafka, INTAKE_TOPICS)
        async with postgres_pool(
            settings.database,
            migrations=MIGRATIONS,
            migrations_table="intake_schema_migrations",
            min_size=1,
            max_size=settings.intake_db_pool_size,
            timeout=settings.intake_answer_timeout_s,
        ) as pool:
            yield pool

    @asynccontextmanager
    async def publisher() -> AsyncIterator[Publisher]:
        yield Publisher(app[PRODUCER], topics.message_events)

    @asynccontextmanager
    async def intake() -> AsyncIterator[Intake]:
        directory = Directory(
            app[POOL],
            ttl_s=settings.intake_directory_cache_ttl_s,
            max_entries=settings.intake_directory_cache_size,
            timeout_s=settings.intake_answer_timeout_s,
        )
        yield Intake(
            topics=topics,
            lookup=directory.lookup,
            publish=app[PUBLISHER].publish,
            email_sealing_key=email_key,
            tickets=tickets,
            content_keys=app[CONTENT_KEYS] if settings.intake_seal_content else None,
            timeout_s=settings.intake_answer_timeout_s,
        )

    @asynccontextmanager
    async def feed() -> AsyncIterator[DirectoryFeed]:
        yield DirectoryFeed(
            app[DIRECTORY_CONSUMER],
            app[POOL],
            dead_letter_topic=topics.dead_letter,
            send_dead_letter=lambda output: app[PUBLISHER].publish([output]),
        )

    provide(app, POOL, pool)
    provide(app, PRODUCER, lambda: kafka_producer(kafka, linger_ms=settings.intake_kafka_linger_ms))
    provide(app, PUBLISHER, publisher)
    provide(app, CONTENT_KEYS, lambda: content_keys(settings.content_keys, SEAL))
    provide(app, INTAKE, intake)
    provide(app, REFUSALS, lambda: refusals(app[PRODUCER], topics.message_events))
    provide(app, DIRECTORY_CONSUMER, lambda: kafka_consumer(kafka, group, [topics.subject_facts]))
    provide(app, FEED, feed)
    run_background(app, "directory-feed", lambda: app[FEED].run(stopping(app)), drains=True)
    monitor_lag(app, kafka, group, [topics.subject_facts])
    add_readiness_check(app, "kafka", lambda: app[PUBLISHER].check())
    add_readiness_check(app, "database", lambda: app[POOL].fetchval("SELECT 1"))
    add_readiness_check(app, "directory", _caught_up(app))
    add_routes(app, secrets, settings.intake_max_body_bytes, cim_template)

    async def openapi_document(_request: web.Request) -> web.Response:
        return web.Response(body=openapi, content_type="application/json")

    app.router.add_get("/openapi.json", openapi_document)
    return app


def _caught_up(app: web.Application) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        if not app[FEED].caught_up.is_set():
            raise RuntimeError("directory still catching up")

    return check
