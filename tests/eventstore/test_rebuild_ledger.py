"""The dispatch ledger lost, rebuilt by ``blindpost replay`` and promoted: the work items
read again are settled from it, and nothing is sent a second time."""

from __future__ import annotations

import asyncio
import json

import asyncpg
from aiohttp import web

from services.dispatch.settings import SmsSettings
from services.dispatch.sms_main import create_sms_app
from shared.domain import Channel
from shared.events import DispatchSucceeded, Event, EventType
from shared.sealing import generate_keypair
from tests.dispatch.support import (
    FakeProvider,
    Served,
    dispatch_until_settled,
    make_work,
    produce_work,
    wait_for_events,
)
from tests.support.events import payload_of
from tests.support.processes import run_cli


def _provider() -> FakeProvider:
    def answer(request: web.Request, raw: bytes, n: int) -> web.Response:
        return web.json_response({"message_id": f"gen-{n}"})

    return FakeProvider(answer)


def _succeeded(events: list[Event]) -> list[tuple[str, str | None]]:
    return [
        (str(e.ext_message_id), payload_of(e, DispatchSucceeded).provider_message_id)
        for e in events
        if e.type is EventType.DISPATCH_SUCCEEDED
    ]


async def test_a_rebuilt_ledger_sends_nothing_twice(
    kafka_bootstrap, topics, base_env, events_dsn
) -> None:
    private, public = generate_keypair("ledger-key")
    provider = _provider()
    async with Served(provider.app("/sms")) as served:
        env = {
            **base_env,
            "DATABASE_URL": events_dsn,
            "BLINDPOST_SEAL_PRIVATE_KEYS_SMS": private,
            "BLINDPOST_SMS_PROVIDER": "generic",
            "BLINDPOST_SMS_HTTP_URL": f"{served.url}/sms",
            "BLINDPOST_DISPATCH_SWEEP_INTERVAL_S": "0.2",
        }
        works = [make_work(Channel.SMS, f"+44770090{n:04d}", public, body="Hi") for n in range(5)]
        first = _succeeded(await dispatch_until_settled(
            create_sms_app(SmsSettings.from_env(env)), kafka_bootstrap, topics, works
        ))
        assert len(provider.requests) == 5 and len(first) == 5

        conn = await asyncpg.connect(events_dsn)
        try:
            await conn.execute("TRUNCATE dispatch_ledger")  # the ledger is lost
        finally:
            await conn.close()
        ran = await asyncio.to_thread(
            run_cli, env, "replay", "--from", "kafka", "--model", "ledger", "--promote",
            "--accept", "dispatch_ledger", "--format", "json",
        )
        assert ran.returncode == 0, ran.stderr
        assert json.loads(ran.stdout)["tables"]["dispatch_ledger"]["rebuilt"]["rows"] == 5

        # The dispatch topic delivers the same work items again (an offset reset, a
        # restore), and a new one.
        sentinel = make_work(Channel.SMS, "+447700900999", public, body="Hi")
        async with Served(create_sms_app(SmsSettings.from_env(env))):
            await produce_work(
                kafka_bootstrap, topics.dispatch(Channel.SMS), [*works, sentinel]
            )
            # Settled from the rebuilt ledger: each outcome told again (same event), not sent.
            events = await wait_for_events(
                kafka_bootstrap, topics.message_events,
                lambda evs: len(_succeeded(evs)) >= 2 * len(works) + 1,
            )
    again = _succeeded(events)
    new = [s for s in again if s[0] == str(sentinel.ext_message_id)]
    assert len(new) == 1
    assert sorted(again) == sorted([*first, *first, *new])
    assert len(provider.requests) == 6  # the five once, and the new one
