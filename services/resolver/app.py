"""Wiring the resolver process: the vault client, the read claims' database, the
transactional producer, the consumer and the stage between them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from services.resolver.claims import ReadClaims
from services.resolver.consumer import Resolver, parse
from services.resolver.settings import ResolverSettings
from services.resolver.vault_client import VaultClient
from shared.db import postgres_pool
from shared.domain import ChannelFamily
from shared.http import add_readiness_check, create_service_app
from shared.kafka import (
    RecoveringProducer,
    TransactionalStage,
    kafka_consumer,
    kafka_producer,
    prepare_topics,
)
from shared.lag import monitor_lag
from shared.lifecycle import provide, run_background, stopping
from shared.logging import get_logger
from shared.sealing import SealingPublicKey
from shared.topics import DEAD_LETTER, DISPATCH, MESSAGE_EVENTS

log = get_logger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATIONS_TABLE = "resolver_schema_migrations"

SESSION = web.AppKey("vault_session", aiohttp.ClientSession)
POOL = web.AppKey("pool", asyncpg.Pool)
PRODUCER = web.AppKey("producer", RecoveringProducer)
CONSUMER = web.AppKey("consumer", AIOKafkaConsumer)
STAGE = web.AppKey("stage", TransactionalStage)
RESOLVER_TOPICS = (MESSAGE_EVENTS, DEAD_LETTER, *DISPATCH.values())


def sealers_from(settings: ResolverSettings) -> dict[ChannelFamily, SealingPublicKey]:
    return {
        ChannelFamily.EMAIL: SealingPublicKey.parse(settings.seal_public_key_email),
        ChannelFamily.SMS: SealingPublicKey.parse(settings.seal_public_key_sms),
        ChannelFamily.CIM: SealingPublicKey.parse(settings.seal_public_key_cim),
    }


def create_app(settings: ResolverSettings) -> web.Application:
    sealers = sealers_from(settings)  # a bad key stops the process before it consumes
    kafka = settings.kafka
    topics = kafka.topics
    group = kafka.group("resolver")
    app = create_service_app("resolver", **settings.app_options())
    if "resolver_instance" not in settings.model_fields_set and not settings.is_local:
        log.warning(
            "BLINDPOST_INSTANCE_ID is not set: the transactional id follows the hostname, so "
            "a replacement pod cannot fence its predecessor (see docs/decisions.md)"
        )

    @asynccontextmanager
    async def vault_session() -> AsyncIterator[aiohttp.ClientSession]:
        await prepare_topics(kafka, RESOLVER_TOPICS)
        timeout = aiohttp.ClientTimeout(total=settings.vault_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            yield session

    @asynccontextmanager
    async def stage() -> AsyncIterator[TransactionalStage]:
        vault = VaultClient(
            app[SESSION],
            settings.vault_url,
            settings.secret("vault_resolver_token"),
            settings.vault_batch_size,
        )
        yield TransactionalStage(
            name="resolver",
            consumer=app[CONSUMER],
            producer=app[PRODUCER],
            group_id=group,
            parse=parse,
            handle=Resolver(vault, ReadClaims(app[POOL]), sealers, topics).handle,
            dead_letter_topic=topics.dead_letter,
            max_records=settings.resolver_max_records,
        )

    provide(app, SESSION, vault_session)
    provide(
        app,
        POOL,
        lambda: postgres_pool(
            settings.database, migrations=MIGRATIONS, migrations_table=MIGRATIONS_TABLE, max_size=4
        ),
    )
    provide(
        app,
        PRODUCER,
        lambda: kafka_producer(kafka, transactional_id=f"{group}-{settings.resolver_instance}"),
    )
    provide(
        app,
        CONSUMER,
        lambda: kafka_consumer(
            kafka, group, [topics.message_events], max_poll_records=settings.resolver_max_records
        ),
    )
    provide(app, STAGE, stage)
    run_background(app, "resolver-stage", lambda: app[STAGE].run(stopping(app)), drains=True)
    monitor_lag(app, kafka, group, [topics.message_events])

    async def vault_ready() -> None:
        async with app[SESSION].get(settings.vault_url.rstrip("/") + "/healthz") as response:
            response.raise_for_status()

    async def prune_claims() -> None:
        claims = ReadClaims(app[POOL])
        while True:
            try:
                await claims.prune(settings.resolver_claim_retention_days)
            except Exception as exc:  # noqa: BLE001 - housekeeping must not stop the stage
                log.warning("pruning read claims failed", error=type(exc).__name__)
            await asyncio.sleep(3600)

    run_background(app, "resolver-claims-pruning", prune_claims)
    add_readiness_check(app, "database", lambda: app[POOL].fetchval("SELECT 1"))
    add_readiness_check(app, "kafka", lambda: app[PRODUCER].check(topics.message_events))
    add_readiness_check(app, "vault", vault_ready)
    return app
