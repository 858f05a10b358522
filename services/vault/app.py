"""Wiring the vault process: migrations, the pool, the Kafka producer, the keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from services.vault.audit_relay import AuditRelay
from services.vault.crypto import BlindIndex, Keyring
from services.vault.http import DEFAULT_REGION, SERVICE, TOKENS, add_routes
from services.vault.publisher import KafkaPublisher
from services.vault.service import Scope, VaultService
from services.vault.settings import VaultSettings
from shared.db import create_pool, migrate_database
from shared.http import add_readiness_check, create_service_app, run_background
from shared.kafka import start_producer
from shared.topics import Topics

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_TABLE = "vault_schema_migrations"
RELAY = web.AppKey("vault_audit_relay", AuditRelay)


def keys_from(settings: VaultSettings) -> tuple[Keyring, BlindIndex]:
    return (
        Keyring.parse(settings.vault_keks, settings.vault_active_kek),
        BlindIndex.from_setting(settings.secret("vault_blind_index_key")),
    )


def create_app(settings: VaultSettings) -> web.Application:
    # Keys are parsed before anything starts: a bad key stops the process at once.
    keyring, blind_index = keys_from(settings)
    app = create_service_app("vault", client_max_size=4 * 1024 * 1024)
    app[TOKENS] = {Scope(name): token for name, token in settings.require_tokens().items()}
    app[DEFAULT_REGION] = settings.vault_default_region or ""

    async def resources(app: web.Application) -> AsyncIterator[None]:
        await migrate_database(settings.database_url(), MIGRATIONS, MIGRATION_TABLE)
        pool = await create_pool(settings.database_url(), max_size=settings.vault_db_pool_size)
        try:
            producer = await start_producer(settings.kafka_bootstrap_servers)
            try:
                publisher = KafkaPublisher(producer, Topics(settings.topic_prefix))
                relay = AuditRelay(pool, publisher)
                app[SERVICE] = VaultService(pool, keyring, blind_index, publisher, relay.notify)
                app[RELAY] = relay

                async def database() -> None:
                    async with pool.acquire() as conn:
                        await conn.fetchval("SELECT 1")

                async def kafka() -> None:
                    await producer.check()  # not ready while the producer cannot send
                    await producer.client.fetch_all_metadata()

                add_readiness_check(app, "database", database)
                add_readiness_check(app, "kafka", kafka)
                yield
            finally:
                await producer.stop()
        finally:
            await pool.close()

    async def run_relay() -> None:
        await app[RELAY].run()

    # Registered after the resources, so it stops before the pool and producer close.
    app.cleanup_ctx.append(resources)
    run_background(app, "audit-relay", run_relay)
    add_routes(app)
    return app
