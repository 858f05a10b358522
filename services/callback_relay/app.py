"""Wiring the callback relay: event log -> store -> Smartico."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from services.callback_relay.consumer import EventConsumer
from services.callback_relay.deliver import Deliverer
from services.callback_relay.domain import RetryPolicy
from services.callback_relay.publish import EventPublisher
from services.callback_relay.sender import CallbackSender
from services.callback_relay.settings import RelaySettings
from services.callback_relay.ssrf import CallbackGuard, Resolve, system_resolve
from services.callback_relay.store import MIGRATION_TABLE, MIGRATIONS, CallbackStore
from shared.db import postgres_pool
from shared.http import add_readiness_check, create_service_app
from shared.kafka import RecoveringProducer, kafka_consumer, kafka_producer, prepare_topics
from shared.lag import monitor_lag
from shared.lifecycle import provide, run_background, stopping
from shared.topics import CALLBACKS_DEAD_LETTER, DEAD_LETTER, MESSAGE_EVENTS

SERVICE = "callback-relay"
RELAY_TOPICS = (MESSAGE_EVENTS, CALLBACKS_DEAD_LETTER, DEAD_LETTER)
POOL = web.AppKey("pool", asyncpg.Pool)
PRODUCER = web.AppKey("producer", RecoveringProducer)
CONSUMER = web.AppKey("consumer", AIOKafkaConsumer)
SENDER = web.AppKey("sender", CallbackSender)
STORE = web.AppKey("store", CallbackStore)
EVENTS = web.AppKey("events", EventConsumer)
DELIVERER = web.AppKey("deliverer", Deliverer)
PUBLISHER = web.AppKey("publisher", EventPublisher)


def create_app(settings: RelaySettings, resolve: Resolve = system_resolve) -> web.Application:
    app = create_service_app(SERVICE, **settings.app_options())
    kafka = settings.kafka
    topics = kafka.topics
    group = kafka.group("callback-relay")

    @asynccontextmanager
    async def pool() -> AsyncIterator[asyncpg.Pool]:
        await prepare_topics(kafka, RELAY_TOPICS)
        async with postgres_pool(
            settings.database, migrations=MIGRATIONS, migrations_table=MIGRATION_TABLE, max_size=8
        ) as pool:
            yield pool

    @asynccontextmanager
    async def sender() -> AsyncIterator[CallbackSender]:
        sender = CallbackSender(
            CallbackGuard(settings.callback_allowed_hosts, resolve),
            timeout_s=settings.callback_timeout_s,
            total_connections=settings.callback_concurrency,
            per_host=settings.callback_per_host,
        )
        await sender.start()
        try:
            yield sender
        finally:
            await sender.close()

    @asynccontextmanager
    async def store() -> AsyncIterator[CallbackStore]:
        yield CallbackStore(app[POOL])

    @asynccontextmanager
    async def events() -> AsyncIterator[EventConsumer]:
        consumer = EventConsumer(
            app[CONSUMER], app[PRODUCER], app[STORE], topics.message_events, topics.dead_letter
        )
        consumer.subscribe()
        yield consumer

    @asynccontextmanager
    async def deliverer() -> AsyncIterator[Deliverer]:
        yield Deliverer(
            store=app[STORE],
            sender=app[SENDER],
            topics=topics,
            api_key=settings.secret("callback_api_key"),
            policy=RetryPolicy(
                settings.callback_retry_initial_s,
                settings.callback_retry_max_s,
                settings.callback_retry_period_s,
            ),
            concurrency=settings.callback_concurrency,
            batch_size=settings.callback_batch,
            poll_interval_s=settings.callback_poll_interval_s,
            lease_s=settings.lease_s,
        )

    @asynccontextmanager
    async def publisher() -> AsyncIterator[EventPublisher]:
        yield EventPublisher(
            app[STORE],
            app[PRODUCER],
            recorded=app[DELIVERER].recorded,
            poll_interval_s=settings.callback_poll_interval_s,
        )

    provide(app, POOL, pool)
    provide(app, PRODUCER, lambda: kafka_producer(kafka))
    provide(app, CONSUMER, lambda: kafka_consumer(kafka, group))
    provide(app, SENDER, sender)
    provide(app, STORE, store)
    provide(app, EVENTS, events)
    provide(app, DELIVERER, deliverer)
    provide(app, PUBLISHER, publisher)
    # Started first, so it stops last: it publishes what the deliverer records while
    # draining, and returns once the deliverer has stopped and the outbox is empty.
    run_background(
        app, "publish-events", lambda: app[PUBLISHER].run(app[DELIVERER].finished), drains=True
    )
    run_background(app, "consume-events", lambda: app[EVENTS].run(stopping(app)), drains=True)
    run_background(
        app, "deliver-callbacks", lambda: app[DELIVERER].run(stopping(app)), drains=True
    )
    run_background(app, "report-pending", lambda: app[DELIVERER].report_pending(15.0))
    monitor_lag(app, kafka, group, [topics.message_events])
    add_readiness_check(app, "database", lambda: app[POOL].fetchval("SELECT 1"))
    add_readiness_check(app, "producer", lambda: app[PRODUCER].check())
    add_readiness_check(app, "kafka", lambda: _assigned(app[CONSUMER]))
    return app


async def _assigned(consumer: AIOKafkaConsumer) -> None:
    """Ready once the group gave this replica its partitions (or none, if it has more
    replicas than partitions): the state is then loaded from the store."""
    if consumer.assignment() is None:
        raise RuntimeError("no assignment yet")
