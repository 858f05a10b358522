"""Wiring the resolver process: the consumer, the transactional producer, the vault client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from services.resolver.settings import ResolverSettings
from services.resolver.stage import Resolver, parse
from services.resolver.vault_client import VaultClient
from shared.domain import ChannelFamily
from shared.http import add_readiness_check, create_service_app, run_background
from shared.kafka import TransactionalStage, start_consumer, start_producer
from shared.lag import ConsumerLagMonitor
from shared.producer import RecoveringProducer
from shared.sealing import SealingPublicKey
from shared.topics import Topics

GROUP = "blindpost-resolver"


@dataclass
class Running:
    """What the resources context started, for the background tasks and checks to use."""

    session: aiohttp.ClientSession | None = None
    stage: TransactionalStage | None = None  # type: ignore[type-arg]
    lag: ConsumerLagMonitor | None = None
    producer: RecoveringProducer | None = None


def sealers_from(settings: ResolverSettings) -> dict[ChannelFamily, SealingPublicKey]:
    return {
        ChannelFamily.EMAIL: SealingPublicKey.parse(settings.seal_public_key_email),
        ChannelFamily.SMS: SealingPublicKey.parse(settings.seal_public_key_sms),
        ChannelFamily.CIM: SealingPublicKey.parse(settings.seal_public_key_cim),
    }


def create_app(settings: ResolverSettings) -> web.Application:
    sealers = sealers_from(settings)  # a bad key stops the process before it consumes
    topics = Topics(settings.topic_prefix)
    # Names derived from the prefix keep test installations apart; without one they are
    # exactly "blindpost-resolver".
    group = settings.topic_prefix + GROUP
    app = create_service_app("resolver")
    running = Running()

    async def resources(_app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=settings.vault_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            vault = VaultClient(
                session,
                settings.vault_url,
                settings.secret("vault_resolver_token"),
                settings.vault_batch_size,
            )
            producer = await start_producer(
                settings.kafka_bootstrap_servers,
                transactional_id=f"{group}-{settings.resolver_instance}",
            )
            try:
                consumer = await start_consumer(
                    settings.kafka_bootstrap_servers,
                    group,
                    [topics.message_events],
                    max_poll_records=settings.resolver_max_records,
                )
                try:
                    lag = ConsumerLagMonitor(
                        settings.kafka_bootstrap_servers, group, [topics.message_events]
                    )
                    await lag.start()
                    try:
                        running.session, running.lag, running.producer = session, lag, producer
                        running.stage = TransactionalStage(
                            name="resolver",
                            consumer=consumer,
                            producer=producer,
                            group_id=group,
                            parse=parse,
                            handle=Resolver(vault, sealers, topics).handle,
                            dead_letter_topic=topics.dead_letter,
                            max_records=settings.resolver_max_records,
                        )
                        yield
                    finally:
                        await lag.stop()
                finally:
                    await consumer.stop()
            finally:
                await producer.stop()

    async def kafka() -> None:
        assert running.producer is not None
        await running.producer.check()  # not ready while the producer cannot send
        await running.producer.client.fetch_all_metadata()

    async def vault_health() -> None:
        assert running.session is not None
        async with running.session.get(settings.vault_url.rstrip("/") + "/healthz") as response:
            response.raise_for_status()

    async def run_stage() -> None:
        assert running.stage is not None
        await running.stage.run()

    async def run_lag() -> None:
        assert running.lag is not None
        await running.lag.run(settings.metrics_lag_interval_s)

    # Order matters: cleanups run in reverse, so the stage stops before its consumer does.
    app.cleanup_ctx.append(resources)
    run_background(app, "resolver-stage", run_stage)
    run_background(app, "resolver-lag", run_lag)
    add_readiness_check(app, "kafka", kafka)
    add_readiness_check(app, "vault", vault_health)
    return app
