"""Wiring the vault process: migrations, the pool, the Kafka producer, the keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from aiohttp import web

from services.vault.anonymous import AnonymousRefusals
from services.vault.audit_relay import AuditRelay
from services.vault.crypto import BlindIndex, Keyring
from services.vault.gate import TOKENS
from services.vault.http import ANONYMOUS, DEFAULT_REGION, SERVICE, add_routes
from services.vault.publisher import KafkaPublisher
from services.vault.service import Scope, VaultService
from services.vault.settings import VaultSettings
from services.vault.suppression_http import add_suppression_routes
from shared.db import postgres_pool
from shared.http import add_readiness_check, create_service_app
from shared.kafka import RecoveringProducer, kafka_producer, prepare_topics
from shared.lifecycle import provide, run_background, stopping
from shared.topics import SUBJECT_FACTS, VAULT_AUDIT

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_TABLE = "vault_schema_migrations"
POOL = web.AppKey("pool", asyncpg.Pool)
PRODUCER = web.AppKey("producer", RecoveringProducer)
RELAY = web.AppKey("vault_audit_relay", AuditRelay)


def keys_from(settings: VaultSettings) -> tuple[Keyring, BlindIndex]:
    return (
        Keyring.parse(settings.vault_keks, settings.vault_active_kek),
        BlindIndex.from_setting(
            settings.secret("vault_blind_index_key"),
            settings.vault_blind_index_key_version,
            settings.vault_blind_index_previous_keys,
        ),
    )


def create_app(settings: VaultSettings) -> web.Application:
    # Keys are parsed before anything starts: a bad key stops the process at once.
    keyring, blind_index = keys_from(settings)
    kafka = settings.kafka
    app = create_service_app(
        "vault",
        **settings.app_options(),
        client_max_size=4 * 1024 * 1024,
    )
    app[TOKENS] = {Scope(name): token for name, token in settings.require_tokens().items()}
    app[DEFAULT_REGION] = settings.vault_default_region or ""
    app[ANONYMOUS] = AnonymousRefusals(
        settings.vault_anonymous_rate_per_s,
        burst=int(settings.vault_anonymous_rate_per_s * 2) + 1,
        interval_s=settings.vault_anonymous_audit_interval_s,
    )

    @asynccontextmanager
    async def pool() -> AsyncIterator[asyncpg.Pool]:
        await prepare_topics(kafka, (SUBJECT_FACTS, VAULT_AUDIT))
        async with postgres_pool(
            settings.database,
            migrations=MIGRATIONS,
            migrations_table=MIGRATION_TABLE,
            max_size=settings.vault_db_pool_size,
        ) as pool:
            yield pool

    @asynccontextmanager
    async def relay() -> AsyncIterator[AuditRelay]:
        publisher = KafkaPublisher(app[PRODUCER], kafka.topics)
        relay = AuditRelay(app[POOL], publisher)
        app[SERVICE] = VaultService(
            app[POOL],
            keyring,
            blind_index,
            publisher,
            relay.notify,
            lookups_per_minute=settings.vault_lookups_per_minute,
        )
        yield relay

    provide(app, POOL, pool)
    provide(app, PRODUCER, lambda: kafka_producer(kafka))
    provide(app, RELAY, relay)
    run_background(app, "audit-relay", lambda: app[RELAY].run())
    run_background(
        app,
        "anonymous-refusals",
        lambda: app[ANONYMOUS].run(app[SERVICE].refuse_anonymous, stopping(app)),
        drains=True,
    )

    add_readiness_check(app, "database", lambda: app[POOL].fetchval("SELECT 1"))
    add_readiness_check(app, "kafka", lambda: app[PRODUCER].check(kafka.topics.vault_audit))
    add_routes(app)
    add_suppression_routes(app)
    return app
