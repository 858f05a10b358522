"""A stand-in for Smartico's callback endpoint (a real aiohttp server) and helpers to put
a message's lifecycle on the event log."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from services.callback_relay.app import create_app
from services.callback_relay.settings import RelaySettings
from services.callback_relay.ssrf import Resolve, system_resolve
from shared.domain import Channel, SmarticoStatus, ext_message_id_for
from shared.events import Event, MessageContent
from shared.topics import Topics
from tests.support import events as build
from tests.support.kafka import partitions_of
from tests.support.kafka import publish as publish_events
from tests.support.polling import eventually
from tests.support.ports import free_port


@dataclass
class Smartico:
    """Answers like Smartico; ``mode`` is up, error (error_code 1), redirect, hang (never
    answers until stopped), or down (the port is closed: connection refused)."""

    port: int = field(default_factory=free_port)
    mode: str = "up"
    requests: list[dict[str, str]] = field(default_factory=list)
    redirect_to: str = ""
    _runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    def delivered(self) -> Counter[tuple[str, str]]:
        """(ext_message_id, status) of every callback answered with error_code 0."""
        return Counter(
            (q["ext_message_id"], q["status"]) for q in self.requests if q.get("_answer") == "ok"
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        if self.mode == "error":
            query["_answer"] = "error"
            self.requests.append(query)
            return web.json_response({"error_code": 1, "error_message": "email was not found"})
        if self.mode == "hang":
            query["_answer"] = "hang"
            self.requests.append(query)
            await self._release.wait()
            raise web.HTTPServiceUnavailable()
        if self.mode == "redirect":
            query["_answer"] = "redirect"
            self.requests.append(query)
            raise web.HTTPFound(self.redirect_to)
        query["_answer"] = "ok"
        self.requests.append(query)
        # Smartico's documented body, trailing comma and all.
        return web.Response(text='{\n  "error_code": 0,\n}', content_type="application/json")

    async def start(self) -> None:
        self._release.clear()
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        self._release.set()
        if self._runner:
            await self._runner.cleanup()
            self._runner = None


@asynccontextmanager
async def smartico(mode: str = "up") -> AsyncIterator[Smartico]:
    server = Smartico(mode=mode)
    if mode != "down":
        await server.start()
    try:
        yield server
    finally:
        await server.stop()


def relay_env(
    base_env: dict[str, str], events_dsn: str, allowed: str, **extra: str
) -> dict[str, str]:
    return {
        **base_env,
        "DATABASE_URL": events_dsn,
        "BLINDPOST_CALLBACK_RELAY_PORT": str(free_port()),
        "BLINDPOST_CALLBACK_ALLOWED_HOSTS": allowed,
        "BLINDPOST_CALLBACK_RETRY_INITIAL_S": "0.2",
        "BLINDPOST_CALLBACK_RETRY_MAX_S": "2",
        "BLINDPOST_CALLBACK_POLL_INTERVAL_S": "0.05",
        "BLINDPOST_CALLBACK_CONSUMER_GROUP": f"relay-{uuid.uuid4().hex[:8]}",
        "BLINDPOST_METRICS_LAG_INTERVAL_S": "1",
        **extra,
    }


@asynccontextmanager
async def running_relay(
    env: dict[str, str], resolve: Resolve = system_resolve
) -> AsyncIterator[web.Application]:
    settings = RelaySettings.from_env(env)
    app = create_app(settings, resolve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", settings.callback_relay_port)
    await site.start()
    try:
        yield app
    finally:
        await runner.cleanup()


def lifecycle(
    channel: Channel, callback_url: str, statuses: list[SmarticoStatus], uid: str | None = None
) -> tuple[uuid.UUID, list[Event]]:
    """message.accepted, dispatch.succeeded (-> accepted), then provider statuses."""
    uid = uid or uuid.uuid4().hex
    mid = ext_message_id_for(channel, uid)
    events = [
        build.accepted(
            uid, channel=channel, callback_url=callback_url, content=MessageContent(body="hi")
        ),
        build.dispatched(mid, channel=channel, provider="test", provider_message_id=f"p-{uid}"),
        *(build.status_reported(mid, status, provider="test") for status in statuses),
    ]
    return mid, events


async def publish(bootstrap: str, topics: Topics, events: list[Event]) -> None:
    await publish_events(bootstrap, topics.message_events, events)


async def relay_caught_up(bootstrap: str, topics: Topics, witness: Smartico) -> set[str]:
    """Puts one message on every partition of the event log, called back to ``witness``,
    and waits for their callbacks: then the relay has handled everything published before
    them.  Returns their ext_message_ids."""
    mids = set()
    for partition in await partitions_of(bootstrap, topics.message_events):
        mid, events = lifecycle(Channel.SMS, witness.url, [])
        await publish_events(bootstrap, topics.message_events, events, partition=partition)
        mids.add(str(mid))
    await eventually(
        lambda: {mid for mid, _status in witness.delivered()} >= mids,
        within=30,
        what="the sentinel messages' callbacks",
    )
    return mids
