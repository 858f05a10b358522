"""Wiring one dispatcher process: ledger, event producer, providers, the consumer loop, the
sweeper, the lag monitor and the ops endpoints.  Each ``*_main`` module says which family
and which registry of providers (``family.py``); everything else is here, once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from services.dispatch.consumer import run_consumer
from services.dispatch.content import ContentOpener
from services.dispatch.delivery import Route
from services.dispatch.domain_view import DomainView
from services.dispatch.guard import ProviderGuard
from services.dispatch.ledger import MIGRATIONS, MIGRATIONS_TABLE, Ledger
from services.dispatch.parked_domains import ParkedDomains
from services.dispatch.pipeline import Dispatcher
from services.dispatch.providers import Provider
from services.dispatch.settings import DispatchSettings
from services.dispatch.sweeper import run_sweeper
from shared.content_keys import RENDER, ContentKeys, content_keys
from shared.db import keep_session, postgres_pool
from shared.domain import Channel
from shared.http import add_readiness_check, create_service_app
from shared.kafka import RecoveringProducer, kafka_consumer, kafka_producer, prepare_topics
from shared.lag import monitor_lag
from shared.lifecycle import provide, run_background, stopping
from shared.sealing import SealingKeyring
from shared.topics import DEAD_LETTER, DISPATCH, MESSAGE_EVENTS


@dataclass(frozen=True)
class ProviderChoice:
    """A provider for one channel, with that provider's rate (per second, 0 = none) and
    concurrency limits."""

    provider: Provider
    rate_per_s: float
    concurrency: int


BuildProviders = Callable[[], dict[Channel, list[ProviderChoice]]]
"""Each channel's providers, in failover order."""

POOL = web.AppKey("pool", asyncpg.Pool)
PRODUCER = web.AppKey("producer", RecoveringProducer)
ROUTES = web.AppKey("routes", dict[Channel, Route])
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
CONSUMER = web.AppKey("consumer", AIOKafkaConsumer)
CONTENT_KEYS = web.AppKey("content_keys", ContentKeys)
DOMAINS_CONSUMER = web.AppKey("domains_consumer", AIOKafkaConsumer)
DOMAIN_VIEW = web.AppKey("domain_view", DomainView)


def create_app(
    settings: DispatchSettings,
    channel: Channel,
    private_keys: list[str],
    build_providers: BuildProviders,
) -> web.Application:
    app = create_service_app(f"dispatch-{channel.value}", **settings.app_options())
    kafka = settings.kafka
    topics = kafka.topics
    group = kafka.group(f"dispatch-{channel.value}")
    keyring = SealingKeyring.parse(private_keys)  # fails at start-up, not per message
    recheck_s = settings.parked_domain_recheck_s  # None: no sending domain is ever parked

    @asynccontextmanager
    async def pool() -> AsyncIterator[asyncpg.Pool]:
        await prepare_topics(kafka, (DISPATCH[channel], MESSAGE_EVENTS, DEAD_LETTER))
        async with postgres_pool(
            settings.database,
            migrations=MIGRATIONS,
            migrations_table=MIGRATIONS_TABLE,
            min_size=2,
            max_size=10,
            reset=keep_session,
        ) as pool:
            yield pool

    def route(channel: Channel, choice: ProviderChoice, *fallbacks: Route) -> Route:
        guard = ProviderGuard.create(
            f"{channel.value}:{choice.provider.name}",
            rate_per_s=choice.rate_per_s,
            concurrency=choice.concurrency,
            breaker_threshold=settings.dispatch_breaker_threshold,
            breaker_cooldown_s=settings.dispatch_breaker_cooldown_s,
        )
        return Route(choice.provider, guard, fallbacks)

    @asynccontextmanager
    async def routes() -> AsyncIterator[dict[Channel, Route]]:
        choices = build_providers()
        try:
            yield {
                channel: route(
                    channel, first, *(route(channel, c) for c in following)
                )
                for channel, (first, *following) in choices.items()
            }
        finally:
            providers = [c.provider for chosen in choices.values() for c in chosen]
            for provider in {id(p): p for p in providers}.values():
                await provider.close()

    @asynccontextmanager
    async def dispatcher() -> AsyncIterator[Dispatcher]:
        yield Dispatcher(
            channel=channel,
            settings=settings,
            keyring=keyring,
            contents=ContentOpener(app[CONTENT_KEYS]),
            routes=app[ROUTES],
            ledger=Ledger(app[POOL], channel.value),
            producer=app[PRODUCER],
            topics=topics,
            parked_domains=ParkedDomains(app[POOL], recheck_s) if recheck_s else None,
        )

    provide(app, POOL, pool)
    provide(app, PRODUCER, lambda: kafka_producer(kafka, linger_ms=1))
    provide(app, ROUTES, routes)
    provide(app, CONTENT_KEYS, lambda: content_keys(settings.content_keys, RENDER))
    provide(app, DISPATCHER, dispatcher)
    provide(
        app,
        CONSUMER,
        lambda: kafka_consumer(
            kafka, group, [topics.dispatch(channel)], max_poll_records=app[DISPATCHER].batch_size
        ),
    )
    run_background(
        app,
        "consumer",
        lambda: run_consumer(app[DISPATCHER], app[CONSUMER], stopping(app)),
        drains=True,
    )
    run_background(
        app, "sweeper", lambda: run_sweeper(app[DISPATCHER], stopping(app)), drains=True
    )
    monitor_lag(app, kafka, group, [topics.dispatch(channel)])
    if recheck_s:
        follow_domains(app, settings, channel, recheck_s)
    add_readiness_check(app, "ledger", lambda: app[POOL].fetchval("SELECT 1"))
    add_readiness_check(app, "producer", lambda: app[PRODUCER].check())
    return app


def follow_domains(
    app: web.Application, settings: DispatchSettings, channel: Channel, recheck_s: float
) -> None:
    """The parked sending domains kept from the event log (domain_view.py), in a consumer
    group of their own: every replica reads the table, each keeps some partitions."""
    kafka = settings.kafka
    stage = f"dispatch-{channel.value}-domains"
    group = kafka.group(stage)
    topic = kafka.topics.message_events

    @asynccontextmanager
    async def view() -> AsyncIterator[DomainView]:
        domains = ParkedDomains(app[POOL], recheck_s)
        view = DomainView(app[DOMAINS_CONSUMER], domains, topic, stage)
        view.subscribe()
        yield view

    provide(app, DOMAINS_CONSUMER, lambda: kafka_consumer(kafka, group))
    provide(app, DOMAIN_VIEW, view)
    run_background(app, "domain-view", lambda: app[DOMAIN_VIEW].run(stopping(app)), drains=True)
    monitor_lag(app, kafka, group, [topic])
