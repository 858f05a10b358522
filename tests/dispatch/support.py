"""Helpers for the dispatcher tests: work items sealed like the resolver seals them, real
local servers standing in for providers, and the dispatcher app served on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web
from aiokafka import AIOKafkaProducer

from services.dev.smtp_sink import start_smtp_server
from shared.domain import Channel
from shared.events import Event, EventType, MessageContent
from shared.sealing import SealingPublicKey
from shared.topics import Topics
from shared.work import DispatchWork, sealing_context
from tests.support.kafka import read_topic
from tests.support.ports import free_port


def make_work(
    channel: Channel,
    recipient: str,
    public_key: str,
    *,
    uid: str | None = None,
    accepted_at: datetime | None = None,
    ext_user_id: str = "player-42",
    **content: Any,
) -> DispatchWork:
    uid = uid or uuid.uuid4().hex
    mid = uuid.uuid4()
    key = SealingPublicKey.parse(public_key)
    return DispatchWork(
        ext_message_id=mid,
        channel=channel,
        ext_user_id=ext_user_id,
        uid=uid,
        accepted_at=accepted_at or datetime.now(UTC),
        sealed_recipient=key.seal(recipient.encode(), sealing_context(mid, channel)),
        content=MessageContent(**content),
    )


async def produce(
    bootstrap: str, topic: str, values: list[bytes], keys: list[bytes | None]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value, key in zip(values, keys, strict=True):
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def produce_work(bootstrap: str, topic: str, works: list[DispatchWork]) -> None:
    await produce(bootstrap, topic, [w.to_bytes() for w in works], [w.key for w in works])


async def events_of(
    bootstrap: str, topic: str, *, expect: int | None = None, timeout_s: float = 20.0
) -> list[Event]:
    records = await read_topic(bootstrap, topic, expect=expect, timeout_s=timeout_s)
    return [Event.from_bytes(r.value) for r in records]


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


async def wait_for_events(
    bootstrap: str, topic: str, done: Callable[[list[Event]], bool], timeout_s: float = 45.0
) -> list[Event]:
    """Reads the event log until ``done(events)`` holds (each read starts from the beginning)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        events = await events_of(bootstrap, topic, timeout_s=2.0)
        if done(events) or loop.time() > deadline:
            return events
        await asyncio.sleep(0.3)


def outcomes(events: list[Event]) -> dict[uuid.UUID, list[Event]]:
    by_id: dict[uuid.UUID, list[Event]] = {}
    for event in events:
        by_id.setdefault(event.ext_message_id, []).append(event)
    return by_id


def settled(count: int) -> Callable[[list[Event]], bool]:
    """Holds once ``count`` messages have a final outcome (sent, or failed for good)."""

    def done(events: list[Event]) -> bool:
        final = {EventType.DISPATCH_SUCCEEDED, EventType.DISPATCH_FAILED}
        return (
            sum(
                1
                for evs in outcomes(events).values()
                if any(e.type in final and not getattr(e.payload, "retryable", False) for e in evs)
            )
            >= count
        )

    return done


async def dispatch_until_settled(
    apps: web.Application | list[web.Application],
    bootstrap: str,
    topics: Topics,
    works: list[DispatchWork],
) -> list[Event]:
    """Serves the dispatcher ``apps`` (one per channel), produces each of ``works`` to its
    channel's topic and reads the event log until every one of them is settled."""
    async with contextlib.AsyncExitStack() as served:
        for app in apps if isinstance(apps, list) else [apps]:
            await served.enter_async_context(Served(app))
        for channel in dict.fromkeys(w.channel for w in works):
            mine = [w for w in works if w.channel is channel]
            await produce_work(bootstrap, topics.dispatch(channel), mine)
        return await wait_for_events(bootstrap, topics.message_events, settled(len(works)))


class Served:
    """An aiohttp app on a free port of 127.0.0.1."""

    def __init__(self, app: web.Application, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.runner = web.AppRunner(app, handle_signals=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Served:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


Behaviour = Callable[[web.Request, bytes], Awaitable[web.StreamResponse | None]]


@dataclass
class FakeProvider:
    """Records every request; ``behaviour`` may answer instead of the default."""

    answer: Callable[[web.Request, bytes, int], web.StreamResponse]
    behaviour: Behaviour | None = None
    requests: list[tuple[web.Request, bytes]] = field(default_factory=list)

    def app(self, path: str, method: str = "POST") -> web.Application:
        app = web.Application()
        app.router.add_route(method, path, self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append((request, raw))
        if self.behaviour is not None:
            response = await self.behaviour(request, raw)
            if response is not None:
                return response
        return self.answer(request, raw, len(self.requests))


class TwilioServer:
    """Twilio's Messages API: takes the first ``takes`` messages (all, if None), then
    answers 503; counts each message it took by the ``bp_mid`` of its status callback."""

    def __init__(self, takes: int | None = None) -> None:
        self.takes = takes
        self.delivered: Counter[str] = Counter()
        self.refused = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        form = parse_qs(await request.text())
        mid = parse_qs(urlsplit(form["StatusCallback"][0]).query)["bp_mid"][0]
        if self.takes is not None and sum(self.delivered.values()) >= self.takes:
            self.refused += 1
            return web.json_response({"code": 20500, "message": "unavailable"}, status=503)
        self.delivered[mid] += 1
        return web.json_response({"sid": f"SM{len(self.delivered):032d}"}, status=201)


@dataclass
class RecordingSmtpHandler:
    """A real aiosmtpd handler that keeps what it received; ``replies`` scripts answers
    (for example ["421 ...", "250 OK"]) before it accepts everything."""

    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    on_data: Callable[[bytes], None] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        if self.replies:
            reply = self.replies.pop(0)
            if not reply.startswith("250"):
                return reply
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), data))
        if self.on_data is not None:
            self.on_data(data)
        return "250 OK"


async def smtp_server(handler: Any) -> tuple[asyncio.Server, int]:
    port = free_port()
    server = await start_smtp_server(handler, "127.0.0.1", port)
    return server, port
