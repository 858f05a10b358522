"""Wiring the vault process: the schema, the pool, the Kafka producer, the keys, the
principals, the audit relay and checkpointer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from aiohttp import web

from services.vault.anonymous import AnonymousRefusals
from services.vault.audit_relay import AuditRelay
from services.vault.checkpointer import Checkpointer
from services.vault.checkpoints import CheckpointSigner
from services.vault.content_key_http import add_content_key_routes
from services.vault.crypto import BlindIndex, KeyMaterialError, Keyring
from services.vault.gate import PRINCIPALS
from services.vault.http import (
    ANONYMOUS,
    DEFAULT_REGION,
    RESOLUTIONS,
    SERVICE,
    add_routes,
)
from services.vault.kek_epochs import EpochStore
from services.vault.principals import Principals
from services.vault.publisher import KafkaPublisher
from services.vault.roles import MIGRATION_TABLE, MIGRATIONS, prepare_schema
from services.vault.service import VaultService
from services.vault.settings import VaultSettings
from services.vault.suppression_http import add_suppression_routes
from services.vault.throttle import PerPrincipal
from shared.db import keep_session, postgres_pool
from shared.http import add_readiness_check, create_service_app
from shared.kafka import RecoveringProducer, kafka_producer, prepare_topics
from shared.lifecycle import provide, run_background, stopping
from shared.logging import get_logger
from shared.tickets import TicketVerifier
from shared.topics import MESSAGE_EVENTS, SUBJECT_FACTS, VAULT_AUDIT

log = get_logger(__name__)

# Where the vault's migrations are, for tests and tools that migrate a scratch database.
__all__ = ["MIGRATIONS", "MIGRATION_TABLE", "create_app", "keys_from"]

POOL = web.AppKey("pool", asyncpg.Pool)
PRODUCER = web.AppKey("producer", RecoveringProducer)
RELAY = web.AppKey("vault_audit_relay", AuditRelay)
CHECKPOINTER = web.AppKey("vault_audit_checkpointer", Checkpointer)


def epochs_from(settings: VaultSettings) -> EpochStore | None:
    """The KEK epochs, when configured (docs/vault.md, Backups)."""
    if settings.vault_kek_epochs_dir is None:
        return None
    master = settings.secret("vault_kek_epoch_master")
    if not master:
        raise KeyMaterialError(
            "BLINDPOST_VAULT_KEK_EPOCHS_DIR needs BLINDPOST_VAULT_KEK_EPOCH_MASTER"
        )
    return EpochStore.from_setting(
        settings.vault_kek_epochs_dir, master, settings.vault_kek_epoch_refresh_s
    )


def keys_from(settings: VaultSettings) -> tuple[Keyring, BlindIndex]:
    return (
        Keyring.parse(settings.vault_keks, settings.vault_active_kek, epochs_from(settings)),
        BlindIndex.from_setting(
            settings.secret("vault_blind_index_key"),
            settings.vault_blind_index_key_version,
            settings.vault_blind_index_previous_keys,
        ),
    )


def create_app(settings: VaultSettings) -> web.Application:
    # Keys are parsed before anything starts: a bad key stops the process at once.
    keyring, blind_index = keys_from(settings)
    if keyring.epochs is not None and keyring.epochs.current() is None:
        log.warning(
            "no KEK epoch yet: new data keys use BLINDPOST_VAULT_ACTIVE_KEK until "
            "`blindpost vault rotate-epochs` creates the first"
        )
    signer = CheckpointSigner.from_setting(settings.secret("vault_audit_signing_key"))
    tickets = TicketVerifier.parse(
        settings.vault_ticket_public_keys, "BLINDPOST_VAULT_TICKET_PUBLIC_KEYS"
    )
    kafka = settings.kafka
    app = create_service_app(
        "vault",
        **settings.app_options(),
        client_max_size=4 * 1024 * 1024,
    )
    app[PRINCIPALS] = Principals.from_settings(settings)
    app[DEFAULT_REGION] = settings.vault_default_region or ""
    per_minute = settings.vault_resolutions_per_minute
    # A minute's allowance at once: a principal may use its minute as it likes.
    app[RESOLUTIONS] = PerPrincipal(per_minute / 60, burst=max(1, int(per_minute)))
    app[ANONYMOUS] = AnonymousRefusals(
        settings.vault_anonymous_rate_per_s,
        burst=int(settings.vault_anonymous_rate_per_s * 2) + 1,
        interval_s=settings.vault_anonymous_audit_interval_s,
    )

    @asynccontextmanager
    async def pool() -> AsyncIterator[asyncpg.Pool]:
        await prepare_topics(kafka, (SUBJECT_FACTS, VAULT_AUDIT, MESSAGE_EVENTS))
        await prepare_schema(settings.database_url(), settings.owner_database_url())
        async with postgres_pool(
            settings.database, max_size=settings.vault_db_pool_size, reset=keep_session
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
            tickets=tickets,
            lookups_per_minute=settings.vault_lookups_per_minute,
            content_key_period_days=settings.vault_content_period_days,
        )
        yield relay

    @asynccontextmanager
    async def checkpointer() -> AsyncIterator[Checkpointer]:
        publisher = KafkaPublisher(app[PRODUCER], kafka.topics)
        interval_s = settings.vault_audit_checkpoint_interval_s
        yield Checkpointer(app[POOL], signer, publisher, interval_s)

    provide(app, POOL, pool)
    provide(app, PRODUCER, lambda: kafka_producer(kafka))
    provide(app, RELAY, relay)
    provide(app, CHECKPOINTER, checkpointer)
    run_background(app, "audit-relay", lambda: app[RELAY].run())
    run_background(
        app, "audit-checkpoints", lambda: app[CHECKPOINTER].run(stopping(app)), drains=True
    )
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
    add_content_key_routes(app)
    return app
