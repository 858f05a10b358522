"""A running status ingest (in this process, on a free port) against this test's topics and
scratch database, with a local server standing in for Amazon SNS's certificate host."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from yarl import URL

from services.status_ingest.app import create_app
from services.status_ingest.settings import StatusIngestSettings
from shared.events import Event, EventType
from shared.topics import Topics
from tests.status_ingest import payloads
from tests.support.kafka import read_topic
from tests.support.ports import free_port


@dataclass
class SnsStandIn:
    """Serves the signing certificate and records subscription confirmations."""

    port: int = 0
    fetched: list[str] = field(default_factory=list)
    confirmations: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.fetched.append(str(request.rel_url))
        if request.path.endswith(".pem"):
            return web.Response(body=payloads.SNS_CERT_PEM)
        if request.query.get("Action") == "ConfirmSubscription":
            self.confirmations.append(dict(request.query))
            return web.Response(text="<ConfirmSubscriptionResponse/>")
        return web.Response(status=404)

    async def fetch(self, url: URL) -> bytes:
        """Production fetches ``url`` itself; here the (already checked) SNS URL is served
        by this local server instead."""
        local = URL.build(
            scheme="http", host="127.0.0.1", port=self.port, path=url.path, query=url.query
        )
        async with aiohttp.ClientSession() as session, session.get(local) as response:
            if response.status != 200:
                raise OSError(f"SNS stand-in answered {response.status}")
            return await response.read()


@pytest.fixture
async def sns_stand_in() -> AsyncIterator[SnsStandIn]:
    stand_in = SnsStandIn()
    app = web.Application()
    app.router.add_get("/{tail:.*}", stand_in.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stand_in.port = free_port()
    await web.TCPSite(runner, "127.0.0.1", stand_in.port).start()
    yield stand_in
    await runner.cleanup()


@dataclass
class Ingest:
    base_url: str
    topics: Topics
    bootstrap: str
    session: aiohttp.ClientSession

    async def send(self, path: str, signed: payloads.Signed) -> tuple[int, str]:
        url = self.base_url + path + (f"?{signed.query}" if signed.query else "")
        async with self.session.request(
            signed.method,
            URL(url, encoded=True),
            data=signed.body or None,
            headers=signed.headers,
            allow_redirects=False,
        ) as response:
            return response.status, await response.text()

    async def statuses(self, expect: int | None = None, timeout_s: float = 10) -> list[Event]:
        records = await read_topic(
            self.bootstrap, self.topics.message_events, expect=expect, timeout_s=timeout_s
        )
        return _statuses(records)

    async def statuses_so_far(self) -> list[Event]:
        """Every status on the log up to its end as of now.  The ingest answers a request only
        once Kafka acknowledged what it recorded, so after the answers this proves an absence
        without waiting for a quiet spell."""
        topic = self.topics.message_events
        # Subscribing makes start() load the topic's metadata; then read every partition.
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            numbers = consumer.partitions_for_topic(topic) or set()
            partitions = [TopicPartition(topic, n) for n in sorted(numbers)]
            assert partitions, f"{topic} has no partitions"
            consumer.unsubscribe()
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            records: list[ConsumerRecord] = []
            async with asyncio.timeout(10):
                while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                    batch = await consumer.getmany(*partitions, timeout_ms=200)
                    records.extend(r for rs in batch.values() for r in rs)
        finally:
            await consumer.stop()
        return _statuses(records)


def _statuses(records: list[ConsumerRecord]) -> list[Event]:
    events = [Event.from_bytes(r.value) for r in records]
    return [e for e in events if e.type is EventType.STATUS_REPORTED]


def ingest_env(
    base_env: dict[str, str], events_dsn: str, port: int, **extra: str
) -> dict[str, str]:
    return {
        **base_env,
        "DATABASE_URL": events_dsn,
        "BLINDPOST_STATUS_INGEST_PORT": str(port),
        "BLINDPOST_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "BLINDPOST_STATUS_CONSUMER_GROUP": f"status-{port}",
        "BLINDPOST_SENDGRID_WEBHOOK_PUBLIC_KEY": payloads.SENDGRID_PUBLIC_B64,
        "BLINDPOST_MAILGUN_WEBHOOK_SIGNING_KEY": payloads.MAILGUN_KEY,
        "BLINDPOST_SES_SNS_TOPIC_ARNS": payloads.TOPIC_ARN,
        "BLINDPOST_TWILIO_AUTH_TOKEN": payloads.TWILIO_TOKEN,
        "BLINDPOST_VONAGE_SIGNATURE_SECRET": payloads.VONAGE_SECRET,
        "BLINDPOST_WHATSAPP_APP_SECRET": payloads.WHATSAPP_SECRET,
        "BLINDPOST_WHATSAPP_VERIFY_TOKEN": "meta-verify-token",
        "BLINDPOST_GENERIC_WEBHOOK_SECRET": payloads.GENERIC_SECRET,
        "BLINDPOST_VIBER_AUTH_TOKEN": payloads.VIBER_TOKEN,
        **extra,
    }


@pytest.fixture
def ingest_extra_env() -> dict[str, str]:
    return {}


@pytest.fixture
async def ingest(
    base_env, events_dsn, topics, kafka_bootstrap, sns_stand_in, ingest_extra_env
) -> AsyncIterator[Ingest]:
    port = free_port()
    settings = StatusIngestSettings.from_env(
        ingest_env(base_env, events_dsn, port, **ingest_extra_env)
    )
    app = create_app(settings, sns_fetch=sns_stand_in.fetch)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as session:
        yield Ingest(f"http://127.0.0.1:{port}", topics, kafka_bootstrap, session)
    await runner.cleanup()
