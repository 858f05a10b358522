"""Dispatch throughput: e-mails per second over SMTP to an aiosmtpd sink and SMS per second
through the generic HTTP provider to a local aiohttp server, each beside a raw client loop
(aiosmtplib / aiohttp) against the same server in the same run.

Rows per channel: the raw loop (baseline), our provider adapter alone (rendering the mail
with tracking, pooled connections; for e-mail once more with DKIM signing), and the whole
dispatcher as a real process (Kafka work items in, ledger claims, attempt and outcome events
out), timed from the first work item produced to the last message marked sent in the ledger.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import aiosmtplib
import asyncpg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.common import Row, closed_loop, drop_database, free_port, row_from_loop, scratch_database
from bench.script_server import start_script, stop_script
from services.dispatch.email_message import DkimSigner, EmailComposer
from services.dispatch.providers import Outbound, Provider
from services.dispatch.providers.generic import GenericHttpProvider
from services.dispatch.providers.smtp import SmtpPool, SmtpProvider
from shared.domain import Channel, ChannelFamily
from shared.events import MessageContent
from shared.kafka import ensure_topics, start_producer
from shared.sealing import SealingPublicKey, generate_keypair
from shared.topics import Topics
from shared.tracking import TrackingTokens
from shared.work import DispatchWork, sealing_context
from tests.support.env import local_env
from tests.support.processes import ServiceProcess

EMAILS = int(os.environ.get("BENCH_DISPATCH_EMAILS", "6000"))
SMS = int(os.environ.get("BENCH_DISPATCH_SMS", "6000"))
ROUNDS = 3
ROUNDS_NOTE = f"median of {ROUNDS} rounds alternating with ours (the machine is shared)"
CONNECTIONS = 32
CONCURRENCY = 64
HTML = '<html><body><h1>Weekend offer</h1><p>Hello!</p><a href="https://casino.example/offer">Play</a></body></html>'
TEXT = "Weekend offer. Hello! https://casino.example/offer"

SMS_SERVER = """
import sys
from aiohttp import web
count = 0
async def handle(request):
    global count
    await request.read()
    count += 1
    return web.json_response({"message_id": f"gen-{count}"})
app = web.Application()
app.router.add_post("/sms", handle)
app.router.add_get("/readyz", lambda r: web.json_response({}))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def _outbound(channel: Channel, recipient: str, content: MessageContent) -> Outbound:
    return Outbound(uuid.uuid4(), channel, "bench-user", uuid.uuid4().hex, recipient, content, 1)


async def _raw_smtp(port: int, total: int) -> tuple[float, list[float]]:
    content = MessageContent(
        subject="Weekend offer",
        body=HTML,
        text_body=TEXT,
        from_email_address="Casino <news@casino.example>",
    )
    render = SmtpProvider(
        SmtpPool(host="127.0.0.1", port=port),
        composer=EmailComposer("x@x", "bench.local", tokens=None),
    )
    _sender, data, _mid = render.render(_outbound(Channel.EMAIL, "player@bench.example", content))
    clients = []
    for _ in range(CONNECTIONS):
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await client.connect()
        clients.append(client)
    idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
    for client in clients:
        idle.put_nowait(client)

    async def send() -> None:
        client = await idle.get()
        try:
            await client.sendmail("news@casino.example", ["player@bench.example"], data)
        finally:
            idle.put_nowait(client)

    try:
        return await closed_loop(send, total=total, concurrency=CONNECTIONS)
    finally:
        for client in clients:
            await client.quit()


async def _provider_loop(
    provider: Provider, channel: Channel, recipient: str, content: MessageContent, total: int
) -> tuple[float, list[float]]:
    """``total`` sends through one of our adapters, ``CONCURRENCY`` at a time."""
    try:
        return await closed_loop(
            lambda: provider.send(_outbound(channel, recipient, content)),
            total=total,
            concurrency=CONCURRENCY,
        )
    finally:
        await provider.close()


async def _our_smtp(
    port: int, total: int, dkim: DkimSigner | None = None
) -> tuple[float, list[float]]:
    tokens = TrackingTokens(secret=b"bench", base_url="http://127.0.0.1:8082")
    provider = SmtpProvider(
        SmtpPool(host="127.0.0.1", port=port, size=CONNECTIONS),
        composer=EmailComposer("Casino <news@casino.example>", "bench.local", tokens),
        dkim=dkim,
    )
    content = MessageContent(subject="Weekend offer", body=HTML, text_body=TEXT)
    return await _provider_loop(provider, Channel.EMAIL, "player@bench.example", content, total)


async def _raw_http(url: str, total: int) -> tuple[float, list[float]]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:

        async def send() -> None:
            payload = {
                "to": "+447700900000",
                "body": "Best offer ever",
                "ext_message_id": str(uuid.uuid4()),
            }
            async with session.post(url, json=payload) as response:
                await response.json()

        return await closed_loop(send, total=total, concurrency=CONCURRENCY)


async def _our_http(url: str, total: int) -> tuple[float, list[float]]:
    provider = GenericHttpProvider(url, concurrency=CONCURRENCY)
    content = MessageContent(body="Best offer ever")
    return await _provider_loop(provider, Channel.SMS, "+447700900000", content, total)


async def _end_to_end(
    service: str,
    family: ChannelFamily,
    env: dict[str, str],
    dsn: str,
    bootstrap: str,
    topics: Topics,
    public: str,
    total: int,
    logs: Path,
) -> Row:
    port = free_port()
    env = {**env, f"BLINDPOST_DISPATCH_{family.value.upper()}_PORT": str(port)}
    process = ServiceProcess(service, env, port, logs / f"{service}.log")
    await process.start()
    key = SealingPublicKey.parse(public)
    channel = Channel.EMAIL if family is ChannelFamily.EMAIL else Channel.SMS
    recipient = "player@bench.example" if family is ChannelFamily.EMAIL else "+447700900000"
    content = (
        MessageContent(subject="Weekend offer", body=HTML, text_body=TEXT)
        if family is ChannelFamily.EMAIL
        else MessageContent(body="Best offer ever")
    )
    works = []
    for _ in range(total):
        mid = uuid.uuid4()
        works.append(
            DispatchWork(
                ext_message_id=mid,
                channel=channel,
                ext_user_id="bench-user",
                uid=mid.hex,
                accepted_at=datetime.now(UTC),
                sealed_recipient=key.seal(recipient.encode(), sealing_context(mid, channel)),
                content=content,
            )
        )
    producer = await start_producer(bootstrap)
    conn = await asyncpg.connect(dsn)
    try:
        cpu_before = _cpu_seconds(process)
        started = time.perf_counter()
        for work in works:
            await producer.send(topics.dispatch(channel), work.to_bytes(), key=work.key)
        await producer.flush()
        sent = 0
        deadline = started + 120
        while sent < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
            sent = await conn.fetchval(
                "SELECT count(*) FROM dispatch_ledger WHERE state = 'sent' AND family = $1",
                family.value,
            )
        seconds = time.perf_counter() - started
        cpu_ms = (_cpu_seconds(process) - cpu_before) * 1000 / max(sent, 1)
    finally:
        await conn.close()
        await producer.stop()
        process.stop()
    return Row(
        f"dispatch {family.value}",
        "dispatcher process, Kafka → provider",
        sent,
        seconds,
        note=f"{sent}/{total} sent, {cpu_ms:.2f} ms CPU/message in the dispatcher; "
        "claimed, attempt + outcome events acked, ledger marked",
    )


def _dkim_signer() -> DkimSigner:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return DkimSigner("casino.example", "bench", pem)


def _cpu_seconds(process: ServiceProcess) -> float:
    assert process.process is not None
    fields = Path(f"/proc/{process.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run() -> list[Row]:
    env = local_env()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", env["KAFKA_BOOTSTRAP_SERVERS"])
    topics = Topics(f"bench{uuid.uuid4().hex[:8]}.")
    await ensure_topics(bootstrap, topics)
    db_name, dsn = await scratch_database("dispatch")
    private, public = generate_keypair("bench-1")
    smtp_port, sink_ops_port, sms_port = free_port(), free_port(), free_port()
    logs = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": dsn,
            "BLINDPOST_TOPIC_PREFIX": topics.prefix,
            "BLINDPOST_LOG_LEVEL": "WARNING",
            "BLINDPOST_SMTP_PORT": str(smtp_port),
            "BLINDPOST_SMTP_SINK_PORT": str(sink_ops_port),
            "BLINDPOST_SMTP_SINK_STORE": "none",
            "BLINDPOST_VAR_DIR": str(logs),
            "BLINDPOST_SEAL_PRIVATE_KEYS_EMAIL": private,
            "BLINDPOST_SEAL_PRIVATE_KEYS_SMS": private,
            "BLINDPOST_SMS_HTTP_URL": f"http://127.0.0.1:{sms_port}/sms",
            "BLINDPOST_SMTP_POOL_SIZE": str(CONNECTIONS),
        }
    )
    sink = ServiceProcess("smtp-sink", env, sink_ops_port, logs / "smtp-sink.log")
    sms_server = start_script(SMS_SERVER, sms_port)
    rows: list[Row] = []
    try:
        await sink.start()
        await _wait_http(f"http://127.0.0.1:{sms_port}/readyz")
        await _raw_smtp(smtp_port, 200)  # warm-up
        raw, ours = await _alternate(
            lambda: _raw_smtp(smtp_port, EMAILS // ROUNDS),
            lambda: _our_smtp(smtp_port, EMAILS // ROUNDS),
        )
        rows.append(
            row_from_loop(
                "dispatch email",
                "baseline: raw aiosmtplib loop",
                *raw,
                f"{CONNECTIONS} reused connections, prebuilt message; {ROUNDS_NOTE}",
            )
        )
        rows.append(
            row_from_loop(
                "dispatch email",
                "SmtpProvider (render + pool)",
                *ours,
                f"{CONNECTIONS} connections, tracking links, pixel, unsubscribe",
            )
        )
        rows.append(
            row_from_loop(
                "dispatch email",
                "SmtpProvider, DKIM-signed",
                *await _our_smtp(smtp_port, EMAILS // ROUNDS, _dkim_signer()),
                "as above, each mail signed (rsa-sha256, 2048-bit key); one round",
            )
        )
        rows.append(
            await _end_to_end(
                "dispatch-email",
                ChannelFamily.EMAIL,
                env,
                dsn,
                bootstrap,
                topics,
                public,
                EMAILS,
                logs,
            )
        )
        url = f"http://127.0.0.1:{sms_port}/sms"
        raw, ours = await _alternate(
            lambda: _raw_http(url, SMS // ROUNDS), lambda: _our_http(url, SMS // ROUNDS)
        )
        rows.append(
            row_from_loop(
                "dispatch sms",
                "baseline: raw aiohttp loop",
                *raw,
                f"concurrency {CONCURRENCY}, keep-alive; {ROUNDS_NOTE}",
            )
        )
        rows.append(
            row_from_loop(
                "dispatch sms",
                "GenericHttpProvider",
                *ours,
                f"concurrency {CONCURRENCY}, idempotency key",
            )
        )
        rows.append(
            await _end_to_end(
                "dispatch-sms", ChannelFamily.SMS, env, dsn, bootstrap, topics, public, SMS, logs
            )
        )
    finally:
        sink.stop()
        stop_script(sms_server)
        await drop_database(db_name)
    return rows


Loop = tuple[float, list[float]]


async def _alternate(
    raw: Callable[[], Awaitable[Loop]], ours: Callable[[], Awaitable[Loop]]
) -> tuple[Loop, Loop]:
    """Baseline and ours in alternating rounds, so a burst of load elsewhere on the machine
    hits both alike; each side's median round (by rate) is reported."""
    results: tuple[list[Loop], list[Loop]] = ([], [])
    for _ in range(ROUNDS):
        results[0].append(await raw())
        results[1].append(await ours())
    return tuple(
        sorted(r, key=lambda loop: len(loop[1]) / loop[0])[len(r) // 2]  # type: ignore[return-value]
        for r in results
    )


async def _wait_http(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(url)
