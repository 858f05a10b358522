"""Wiring the status ingest process: provider webhooks and our own tracking -> the event log,
and the matcher that releases statuses parked before their dispatch.succeeded event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from yarl import URL

from services.status_ingest.consumer import DispatchedMatcher
from services.status_ingest.inbound import InboundMessages, stop_readers
from services.status_ingest.ingest import MIGRATIONS, MIGRATIONS_TABLE, StatusIngest
from services.status_ingest.providers.registry import build_providers
from services.status_ingest.providers.ses import Fetch
from services.status_ingest.providers.whatsapp import WHATSAPP_WINDOW_S
from services.status_ingest.settings import StatusIngestSettings
from services.status_ingest.suppression import SuppressionFeed, VaultSuppressions
from services.status_ingest.tracking import Tracking
from services.status_ingest.vault_client import VaultOptOuts
from services.status_ingest.webhooks import Webhooks
from shared.db import postgres_pool
from shared.http import add_readiness_check, create_service_app
from shared.kafka import RecoveringProducer, kafka_consumer, kafka_producer, prepare_topics
from shared.lag import monitor_lag
from shared.lifecycle import provide, run_background, stopping
from shared.logging import get_logger
from shared.topics import DEAD_LETTER, MESSAGE_EVENTS
from shared.tracking import TrackingTokens

log = get_logger(__name__)
SERVICE = "status-ingest"
MATCHER = web.AppKey("matcher", DispatchedMatcher)
POOL = web.AppKey("pool", asyncpg.Pool)
PRODUCER = web.AppKey("producer", RecoveringProducer)
CONSUMER = web.AppKey("consumer", AIOKafkaConsumer)
SESSION = web.AppKey("session", aiohttp.ClientSession)
SUPPRESSION_CONSUMER = web.AppKey("suppression_consumer", AIOKafkaConsumer)
STATUS_TOPICS = (MESSAGE_EVENTS, DEAD_LETTER)
MAX_CERT_BYTES = 64 * 1024


class _SnsFetch:
    """GETs a certificate or SubscribeURL that ``ses.sns_url`` already checked; no redirects."""

    session: aiohttp.ClientSession

    async def __call__(self, url: URL) -> bytes:
        async with self.session.get(url, allow_redirects=False) as response:
            if response.status != 200:
                raise OSError(f"SNS answered {response.status}")
            return await response.content.read(MAX_CERT_BYTES)


def create_app(settings: StatusIngestSettings, sns_fetch: Fetch | None = None) -> web.Application:
    app = create_service_app(
        SERVICE,
        **settings.app_options(),
        client_max_size=2 * 1024 * 1024,
    )
    kafka = settings.kafka
    topics = kafka.topics
    group = kafka.group("status-ingest")
    default_fetch = _SnsFetch()
    ingest = StatusIngest(topics)
    vault = VaultOptOuts(settings.vault_url, settings.secret("vault_unsubscribe_token"))
    suppressions = VaultSuppressions(settings.vault_url, settings.secret("vault_unsubscribe_token"))
    tracking = Tracking(
        TrackingTokens(
            settings.secret("tracking_secret").encode(),
            settings.public_base_url,
            previous=tuple(s.encode() for s in settings.tracking_previous_secrets if s),
            ttl_s=settings.tracking_link_ttl_days * 24 * 3600,
        ),
        ingest,
        vault,
    )
    webhooks = Webhooks(
        build_providers(settings, sns_fetch or default_fetch),
        ingest,
        public_base_url=settings.public_base_url,
        window_s=settings.webhook_replay_window_s,
        whatsapp_verify_token=(
            settings.secret("whatsapp_verify_token") if settings.whatsapp_verify_token else None
        ),
    )
    inbound = InboundMessages(
        stop_readers(webhooks.providers, settings.webhook_replay_window_s),
        suppressions,
        settings.public_base_url,
    )
    app.add_routes([*webhooks.routes(), *tracking.routes(), *inbound.routes()])

    @asynccontextmanager
    async def pool() -> AsyncIterator[asyncpg.Pool]:
        await prepare_topics(kafka, STATUS_TOPICS)
        async with postgres_pool(
            settings.database, migrations=MIGRATIONS, migrations_table=MIGRATIONS_TABLE, max_size=10
        ) as pool:
            yield pool

    @asynccontextmanager
    async def session() -> AsyncIterator[aiohttp.ClientSession]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            default_fetch.session = vault.session = suppressions.session = session
            yield session

    @asynccontextmanager
    async def matcher() -> AsyncIterator[DispatchedMatcher]:
        ingest.attach(app[POOL], app[PRODUCER])
        yield DispatchedMatcher(app[CONSUMER], app[PRODUCER], app[POOL], topics)

    provide(app, POOL, pool)
    provide(app, PRODUCER, lambda: kafka_producer(kafka))
    provide(app, SESSION, session)
    provide(app, CONSUMER, lambda: kafka_consumer(kafka, group, [topics.message_events]))
    provide(app, MATCHER, matcher)
    run_background(app, "match-dispatched", lambda: app[MATCHER].run(stopping(app)), drains=True)
    monitor_lag(app, kafka, group, [topics.message_events])
    if settings.vault_unsubscribe_token.get_secret_value():
        # Not drained: a batch waiting for the vault is cancelled and redone after a restart.
        suppression_group = kafka.group("status-suppressions")
        provide(
            app,
            SUPPRESSION_CONSUMER,
            lambda: kafka_consumer(kafka, suppression_group, [topics.message_events]),
        )
        run_background(
            app,
            "suppressions",
            lambda: SuppressionFeed(app[SUPPRESSION_CONSUMER], suppressions).run(stopping(app)),
        )
        monitor_lag(app, kafka, suppression_group, [topics.message_events])
    run_background(app, "housekeeping", lambda: _housekeeping(app, ingest, settings))
    add_readiness_check(app, "database", lambda: app[POOL].fetchval("SELECT 1"))
    add_readiness_check(app, "producer", lambda: app[PRODUCER].check())
    return app


async def _housekeeping(
    app: web.Application, ingest: StatusIngest, settings: StatusIngestSettings
) -> None:
    longest = max(settings.webhook_replay_window_s, WHATSAPP_WINDOW_S) * 2
    while True:
        try:
            await app[MATCHER].report_parked()
            _nonces, parked = await ingest.prune(longest, settings.parked_ttl_s)
            if parked:
                log.warning("parked statuses expired unmatched", count=parked)
        except Exception as exc:  # noqa: BLE001 - housekeeping must not stop the service
            log.warning("housekeeping failed", error=type(exc).__name__)
        await asyncio.sleep(60)
