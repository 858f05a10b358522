"""Callbacks per second to a local receiver: the whole relay (event log -> PostgreSQL
outbox -> HTTP GET -> results and events recorded) beside a raw aiohttp client loop that
only makes the same GETs, against the same receiver (its own process), in the same run.

    python -m bench callbacks
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

import aiohttp

from bench.common import (
    BOOTSTRAP,
    Row,
    closed_loop,
    delete_topics_with_prefix,
    drop_database,
    eventually,
    free_port,
    publish,
    row_from_loop,
    scratch_database,
)
from shared.domain import Channel, SmarticoStatus
from shared.events import Event
from shared.kafka import ensure_topics
from shared.topics import Topics
from tests.callback_relay.support import lifecycle

MESSAGES = int(os.environ.get("BENCH_CALLBACK_MESSAGES", "5000"))
TIMEOUT_S = float(os.environ.get("BENCH_CALLBACK_TIMEOUT_S", "120"))  # two callbacks each
BASELINE_REQUESTS = 10_000
CONCURRENCY = 64

RECEIVER = """
import sys
from aiohttp import web
count = 0
async def callback(request):
    global count
    count += 1
    return web.Response(text='{"error_code": 0}', content_type="application/json")
async def counted(request):
    return web.Response(text=str(count))
app = web.Application()
app.router.add_get("/callback", callback)
app.router.add_get("/count", counted)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


async def _count(session: aiohttp.ClientSession, port: int) -> int:
    async with session.get(f"http://127.0.0.1:{port}/count") as response:
        return int(await response.text())


async def _wait_receiver(session: aiohttp.ClientSession, port: int) -> None:
    async def answering() -> bool:
        await _count(session, port)
        return True

    await eventually(
        answering,
        within=10,
        what="the callback receiver",
        ignoring=(aiohttp.ClientError,),
    )


async def _baseline(session: aiohttp.ClientSession, port: int) -> Row:
    url = f"http://127.0.0.1:{port}/callback?type=email&ext_message_id={uuid.uuid4()}&status=delivered&api_key=k"

    async def one() -> None:
        async with session.get(url) as response:
            await response.read()

    seconds, latencies = await closed_loop(one, total=BASELINE_REQUESTS, concurrency=CONCURRENCY)
    return row_from_loop(
        "callbacks",
        "raw aiohttp GET loop (baseline)",
        seconds,
        latencies,
        f"keep-alive, {CONCURRENCY} in flight, no store, no events",
    )


def _events(url: str) -> list[Event]:
    return [
        event
        for _ in range(MESSAGES)
        for event in lifecycle(Channel.EMAIL, url, [SmarticoStatus.DELIVERED])[1]
    ]


async def _relay(port: int, session: aiohttp.ClientSession) -> Row:
    name, dsn = await scratch_database("callbacks")
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix)
    await ensure_topics(BOOTSTRAP, topics)
    relay_port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.getcwd(),
        # The local stack's settings: a plain local database URL and no TLS are refused
        # anywhere else.
        "BLINDPOST_ENV": "local",
        "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "BLINDPOST_TOPIC_PREFIX": prefix,
        "DATABASE_URL": dsn,
        "BLINDPOST_CALLBACK_API_KEY": "bench-key",
        "BLINDPOST_CALLBACK_ALLOWED_HOSTS": f"http://127.0.0.1:{port}",
        "BLINDPOST_CALLBACK_RELAY_PORT": str(relay_port),
        "BLINDPOST_CALLBACK_CONSUMER_GROUP": f"bench-{prefix}",
        "BLINDPOST_LOG_LEVEL": "WARNING",
    }
    relay: asyncio.subprocess.Process | None = None
    try:
        # The whole burst is on the log before the relay starts, as after a campaign send.
        events = _events(f"http://127.0.0.1:{port}/callback?label=bench")
        await publish(BOOTSTRAP, topics.message_events, events)
        expected = 2 * MESSAGES
        base = await _count(session, port)
        # The relay as it runs in production: its own process (``blindpost run``).
        relay = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            "run",
            "callback-relay",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        # Timed from the first callback answered to the last (group join excluded).
        while await _count(session, port) == base:  # noqa: ASYNC110 - polls another process
            if relay.returncode is not None:
                raise RuntimeError("the callback relay exited during the benchmark")
            await asyncio.sleep(0.01)
        first = await _count(session, port)
        started = time.perf_counter()
        while await _count(session, port) - base < expected:
            if time.perf_counter() - started > TIMEOUT_S:
                break
            await asyncio.sleep(0.02)
        seconds = time.perf_counter() - started
        done = await _count(session, port) - first
    finally:
        if relay is not None and relay.returncode is None:
            relay.terminate()
            await relay.wait()
        await drop_database(name)
        await delete_topics_with_prefix(BOOTSTRAP, prefix)
    return Row(
        "callbacks",
        "callback relay process (log->store->GET)",
        done,
        seconds,
        note=f"{MESSAGES} messages x 2 statuses, burst already on the log; target 2000/s",
    )


async def run() -> list[Row]:
    port = free_port()
    receiver = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RECEIVER,
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONCURRENCY)
        ) as session:
            await _wait_receiver(session, port)
            baseline = await _baseline(session, port)
            ours = await _relay(port, session)
        return [baseline, ours]
    finally:
        receiver.terminate()
        await receiver.wait()


if __name__ == "__main__":
    from bench.common import render

    print(render(asyncio.run(run())))
