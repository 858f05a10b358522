"""The callback relay process: event log -> store -> Smartico."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.callback_relay.consume import EventConsumer
from services.callback_relay.deliver import Deliverer
from services.callback_relay.domain import RetryPolicy
from services.callback_relay.sender import CallbackSender
from services.callback_relay.settings import RelaySettings
from services.callback_relay.ssrf import CallbackGuard, Resolve, system_resolve
from services.callback_relay.store import CallbackStore, migrate
from shared.db import create_pool
from shared.http import add_readiness_check, create_service_app, run_background, serve
from shared.kafka import ensure_topics, start_consumer, start_producer
from shared.lag import ConsumerLagMonitor
from shared.logging import configure_logging, get_logger
from shared.topics import Topics

log = get_logger(__name__)
SERVICE = "callback-relay"
DELIVERER = web.AppKey("deliverer", Deliverer)
STORE = web.AppKey("store", CallbackStore)


def create_app(settings: RelaySettings, resolve: Resolve = system_resolve) -> web.Application:
    app = create_service_app(SERVICE)
    topics = Topics(settings.topic_prefix)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        await ensure_topics(settings.kafka_bootstrap_servers, topics)
        await migrate(settings.database_url)
        pool = await create_pool(settings.database_url, max_size=8)
        producer = await start_producer(settings.kafka_bootstrap_servers)
        consumer = await start_consumer(
            settings.kafka_bootstrap_servers, settings.callback_consumer_group, []
        )
        guard = CallbackGuard(settings.callback_allowed_hosts, resolve)
        sender = CallbackSender(
            guard,
            timeout_s=settings.callback_timeout_s,
            total_connections=settings.callback_concurrency,
            per_host=settings.callback_per_host,
        )
        await sender.start()
        lag = ConsumerLagMonitor(
            settings.kafka_bootstrap_servers,
            settings.callback_consumer_group,
            [topics.message_events],
        )
        await lag.start()
        store = CallbackStore(pool)
        app[STORE] = store
        events = EventConsumer(consumer, producer, store, topics.message_events, topics.dead_letter)
        events.subscribe()
        app[DELIVERER] = Deliverer(
            store=store,
            sender=sender,
            producer=producer,
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
        app[_EVENTS] = events
        app[_LAG] = lag
        add_readiness_check(app, "database", lambda: pool.fetchval("SELECT 1"))
        add_readiness_check(app, "kafka", lambda: _assigned(consumer))
        add_readiness_check(app, "producer", producer.check)
        try:
            yield
        finally:
            await lag.stop()
            await sender.close()
            await consumer.stop()
            await producer.stop()
            await pool.close()

    app.cleanup_ctx.append(resources)
    run_background(app, "consume-events", lambda: app[_EVENTS].run())
    run_background(app, "deliver-callbacks", lambda: app[DELIVERER].run())
    run_background(app, "report-pending", lambda: app[DELIVERER].report_pending(15.0))
    run_background(app, "consumer-lag", lambda: app[_LAG].run(settings.metrics_lag_interval_s))
    return app


_EVENTS = web.AppKey("events", EventConsumer)
_LAG = web.AppKey("lag", ConsumerLagMonitor)


async def _assigned(consumer: object) -> None:
    """Ready once the group gave this replica its partitions (or none, if it has more
    replicas than partitions): the state is then loaded from the store."""
    assignment = consumer.assignment()  # type: ignore[attr-defined]
    if assignment is None:
        raise RuntimeError("no assignment yet")


def main() -> None:
    settings = RelaySettings.from_env()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.callback_relay_port)


if __name__ == "__main__":
    main()
