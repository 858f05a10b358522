"""The status ingest process: provider webhooks and our own tracking -> the event log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from yarl import URL

from services.status_ingest.ingest import StatusIngest, migrate
from services.status_ingest.matcher import DispatchedMatcher
from services.status_ingest.providers.base import Provider
from services.status_ingest.providers.generic import Generic
from services.status_ingest.providers.mailgun import Mailgun
from services.status_ingest.providers.sendgrid import SendGrid
from services.status_ingest.providers.ses import Fetch, Ses
from services.status_ingest.providers.twilio import Twilio
from services.status_ingest.providers.vonage import Vonage
from services.status_ingest.providers.whatsapp import WHATSAPP_WINDOW_S, WhatsApp
from services.status_ingest.settings import StatusIngestSettings
from services.status_ingest.tracking import Tracking
from services.status_ingest.vault_client import VaultOptOuts
from services.status_ingest.webhooks import Webhooks
from shared.db import create_pool
from shared.http import add_readiness_check, create_service_app, run_background, serve
from shared.kafka import ensure_topics, start_consumer, start_producer
from shared.lag import ConsumerLagMonitor
from shared.logging import configure_logging, get_logger
from shared.topics import Topics
from shared.tracking import TrackingTokens

log = get_logger(__name__)
SERVICE = "status-ingest"
MATCHER = web.AppKey("matcher", DispatchedMatcher)
LAG = web.AppKey("lag", ConsumerLagMonitor)
MAX_CERT_BYTES = 64 * 1024


def build_providers(settings: StatusIngestSettings, sns_fetch: Fetch) -> dict[str, Provider]:
    """Only providers whose secret is configured get an endpoint (others answer 404)."""
    providers: dict[str, Provider] = {}
    if settings.sendgrid_webhook_public_key:
        providers["sendgrid"] = SendGrid(settings.sendgrid_webhook_public_key)
    if settings.mailgun_webhook_signing_key:
        providers["mailgun"] = Mailgun(settings.secret("mailgun_webhook_signing_key"))
    if settings.ses_sns_topic_arns:
        providers["ses"] = Ses(settings.ses_sns_topic_arns, sns_fetch)
    if settings.twilio_auth_token:
        providers["twilio"] = Twilio(settings.secret("twilio_auth_token"))
    if settings.vonage_signature_secret:
        providers["vonage"] = Vonage(
            settings.secret("vonage_signature_secret"), settings.vonage_signature_method
        )
    if settings.whatsapp_app_secret:
        providers["whatsapp"] = WhatsApp(settings.secret("whatsapp_app_secret"))
    if settings.generic_webhook_secret:
        providers["generic"] = Generic(list(settings.generic_webhook_secret))
    return providers


class _SnsFetch:
    """GETs a certificate or SubscribeURL that ``ses.sns_url`` already checked; no redirects."""

    session: aiohttp.ClientSession

    async def __call__(self, url: URL) -> bytes:
        async with self.session.get(url, allow_redirects=False) as response:
            if response.status != 200:
                raise OSError(f"SNS answered {response.status}")
            return await response.content.read(MAX_CERT_BYTES)


def create_app(settings: StatusIngestSettings, sns_fetch: Fetch | None = None) -> web.Application:
    app = create_service_app(SERVICE, client_max_size=2 * 1024 * 1024)
    topics = Topics(settings.topic_prefix)
    default_fetch = _SnsFetch()
    ingest = StatusIngest(topics)
    vault = VaultOptOuts(settings.vault_url, settings.secret("vault_unsubscribe_token"))
    tracking = Tracking(
        TrackingTokens(settings.secret("tracking_secret").encode(), settings.public_base_url),
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
    app.add_routes([*webhooks.routes(), *tracking.routes()])

    async def resources(app: web.Application) -> AsyncIterator[None]:
        await ensure_topics(settings.kafka_bootstrap_servers, topics)
        await migrate(settings.database_url)
        pool = await create_pool(settings.database_url, max_size=10)
        producer = await start_producer(settings.kafka_bootstrap_servers)
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        default_fetch.session = vault.session = session
        consumer = await start_consumer(
            settings.kafka_bootstrap_servers,
            settings.status_consumer_group,
            [topics.message_events],
        )
        lag = ConsumerLagMonitor(
            settings.kafka_bootstrap_servers,
            settings.status_consumer_group,
            [topics.message_events],
        )
        await lag.start()
        ingest.attach(pool, producer)
        app[MATCHER] = DispatchedMatcher(consumer, producer, pool, topics)
        app[LAG] = lag
        add_readiness_check(app, "database", lambda: pool.fetchval("SELECT 1"))
        add_readiness_check(app, "producer", producer.check)
        try:
            yield
        finally:
            await lag.stop()
            await consumer.stop()
            await producer.stop()
            await session.close()
            await pool.close()

    app.cleanup_ctx.append(resources)
    run_background(app, "match-dispatched", lambda: app[MATCHER].run())
    run_background(app, "consumer-lag", lambda: app[LAG].run(settings.metrics_lag_interval_s))
    run_background(app, "housekeeping", lambda: _housekeeping(app, ingest, settings))
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


def main() -> None:
    settings = StatusIngestSettings.from_env()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.status_ingest_port)


if __name__ == "__main__":
    main()
