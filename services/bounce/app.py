"""Wiring the bounce receiver: the producer, then the SMTP server that uses it (closed
first on shutdown, so no report is taken that could not be recorded)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from aiohttp import web
from aiosmtpd.smtp import SMTP as SMTPProtocol

from services.bounce.receiver import BounceHandler
from services.bounce.settings import BounceSettings
from shared.events import Event
from shared.http import add_readiness_check, create_service_app
from shared.kafka import RecoveringProducer, kafka_producer, prepare_topics
from shared.lifecycle import provide
from shared.logging import get_logger
from shared.topics import MESSAGE_EVENTS

log = get_logger(__name__)
SERVICE = "bounce-receiver"
PRODUCER = web.AppKey("producer", RecoveringProducer)
SMTP_SERVER = web.AppKey("smtp_server", asyncio.Server)


def create_app(settings: BounceSettings) -> web.Application:
    verp = settings.bounce.require()  # refuses to start without the domain and key
    kafka = settings.kafka
    app = create_service_app(SERVICE, **settings.app_options())

    @asynccontextmanager
    async def producer() -> AsyncIterator[RecoveringProducer]:
        await prepare_topics(kafka, (MESSAGE_EVENTS,))
        async with kafka_producer(kafka) as started:
            yield started

    async def publish(events: Sequence[Event]) -> None:
        sent = [
            await app[PRODUCER].send(kafka.topics.message_events, e.to_bytes(), key=e.key)
            for e in events
        ]
        for future in sent:
            await future

    @asynccontextmanager
    async def smtp_server() -> AsyncIterator[asyncio.Server]:
        handler = BounceHandler(verp, publish, max_recipients=settings.bounce_smtp_max_recipients)
        server = await asyncio.get_running_loop().create_server(
            lambda: SMTPProtocol(
                handler,
                data_size_limit=settings.bounce_smtp_max_bytes,
                enable_SMTPUTF8=True,
                hostname=verp.domain,
                timeout=settings.bounce_smtp_timeout_s,
            ),
            host=settings.bounce_smtp_host,
            port=settings.bounce_smtp_port,
        )
        log.info("bounce receiver listening", port=settings.bounce_smtp_port)
        try:
            yield server
        finally:
            server.close()
            await server.wait_closed()

    async def listening() -> None:
        if not app[SMTP_SERVER].is_serving():
            raise RuntimeError("smtp server stopped")

    provide(app, PRODUCER, producer)
    provide(app, SMTP_SERVER, smtp_server)
    add_readiness_check(app, "smtp", listening)
    add_readiness_check(app, "producer", lambda: app[PRODUCER].check())
    return app
