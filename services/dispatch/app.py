"""Wiring one dispatcher process: ledger, event producer, providers, the consumer loop, the
sweeper, the lag monitor and the ops endpoints.  Each ``*_main`` module says which family
and providers; everything else is here, once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
from aiohttp import web

from services.dispatch import ledger as ledger_module
from services.dispatch.core import Dispatcher, Route
from services.dispatch.guard import ProviderGuard
from services.dispatch.providers import Provider
from services.dispatch.settings import DispatchSettings
from shared.db import create_pool
from shared.domain import Channel, ChannelFamily
from shared.http import add_readiness_check, create_service_app, run_background
from shared.kafka import start_consumer, start_producer
from shared.lag import ConsumerLagMonitor
from shared.logging import get_logger
from shared.sealing import SealingKeyring
from shared.topics import Topics

log = get_logger(__name__)

DISPATCHER = web.AppKey("dispatcher", Dispatcher)


class ProviderChoice:
    """A provider for one channel, with that provider's rate (per second, 0 = none) and
    concurrency limits."""

    def __init__(self, provider: Provider, rate_per_s: float, concurrency: int) -> None:
        self.provider = provider
        self.rate_per_s = rate_per_s
        self.concurrency = concurrency


BuildProviders = Callable[[], dict[Channel, ProviderChoice]]


def create_app(
    settings: DispatchSettings,
    family: ChannelFamily,
    private_keys: list[str],
    build_providers: BuildProviders,
) -> web.Application:
    app = create_service_app(f"dispatch-{family.value}")
    topics = Topics(settings.topic_prefix)
    keyring = SealingKeyring.parse(private_keys)  # fails at start-up, not per message
    state: dict[str, object] = {}

    async def resources(app: web.Application) -> AsyncIterator[None]:
        dsn = settings.secret("database_url")
        await ledger_module.migrate(dsn)
        pool: asyncpg.Pool = await create_pool(dsn, min_size=2, max_size=10)
        producer = await start_producer(settings.kafka_bootstrap_servers, linger_ms=1)
        choices = build_providers()
        routes = {
            channel: Route(
                choice.provider,
                ProviderGuard.create(
                    f"{channel.value}:{choice.provider.name}",
                    rate_per_s=choice.rate_per_s,
                    concurrency=choice.concurrency,
                    breaker_threshold=settings.dispatch_breaker_threshold,
                    breaker_cooldown_s=settings.dispatch_breaker_cooldown_s,
                ),
            )
            for channel, choice in choices.items()
        }
        dispatcher = Dispatcher(
            family=family,
            settings=settings,
            keyring=keyring,
            routes=routes,
            ledger=ledger_module.Ledger(pool, family.value),
            producer=producer,
            topics=topics,
        )
        app[DISPATCHER] = dispatcher
        consumer = await start_consumer(
            settings.kafka_bootstrap_servers,
            dispatcher.group_id,
            [topics.dispatch(family)],
            max_poll_records=dispatcher.batch_size,
        )
        state["consumer"] = consumer
        add_readiness_check(app, "ledger", lambda: pool.fetchval("SELECT 1"))
        add_readiness_check(app, "producer", producer.check)
        try:
            yield
        finally:
            await consumer.stop()
            for provider in {id(c.provider): c.provider for c in choices.values()}.values():
                await provider.close()
            await producer.stop()
            await pool.close()

    async def consume() -> None:
        await app[DISPATCHER].run_consumer(state["consumer"])  # type: ignore[arg-type]

    async def sweep() -> None:
        await app[DISPATCHER].run_sweeper()

    async def lag() -> None:
        monitor = ConsumerLagMonitor(
            settings.kafka_bootstrap_servers,
            f"blindpost-dispatch-{family.value}",
            [topics.dispatch(family)],
        )
        await monitor.start()
        try:
            await monitor.run(settings.metrics_lag_interval_s)
        finally:
            await monitor.stop()

    app.cleanup_ctx.append(resources)
    # After ``resources`` so they stop first.
    run_background(app, "consumer", consume)
    run_background(app, "sweeper", sweep)
    run_background(app, "lag", lag)
    return app
