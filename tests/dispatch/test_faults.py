"""Provider faults: timeouts, 5xx then success, permanent 4xx, SMTP 421 and 550, expired
messages, poison records, duplicate work items."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp import web

from services.dispatch.email_main import create_email_app
from services.dispatch.settings import EmailSettings, SmsSettings
from services.dispatch.sms_main import create_sms_app
from shared.domain import Channel
from shared.events import DispatchFailed, DispatchParked, DispatchResumed, Event
from tests.dispatch.support import (
    FakeProvider,
    RecordingSmtpHandler,
    Served,
    make_work,
    outcomes,
    produce,
    produce_work,
    settled,
    smtp_server,
    wait_for_events,
)
from tests.support.events import payload_of
from tests.support.kafka import read_topic

PHONE = "+447700900777"
# An open breaker with a long cooldown and long parking: nothing is retried during the test.
OPEN_BREAKER_SETTINGS = {
    "BLINDPOST_DISPATCH_INLINE_RETRIES": "0",
    "BLINDPOST_DISPATCH_BREAKER_THRESHOLD": "2",
    "BLINDPOST_DISPATCH_BREAKER_COOLDOWN_S": "600",
    "BLINDPOST_DISPATCH_PARK_INITIAL_S": "600",
    "BLINDPOST_DISPATCH_PARK_MAX_S": "600",
}


def kinds(events) -> list[tuple[str, int, object]]:
    return [(e.type.value, e.payload.attempt, getattr(e.payload, "reason", None)) for e in events]


async def test_generic_provider_faults(dispatch_env, topics, keypair, kafka_bootstrap):
    seen: Counter[str] = Counter()

    async def behaviour(request: web.Request, raw: bytes):
        script = json.loads(raw)["body"]
        seen[script] += 1
        n = seen[script]
        if script == "timeout-once" and n == 1:
            await asyncio.sleep(3)
        if script == "503-twice" and n <= 2:
            return web.json_response({"error": f"busy for {PHONE}"}, status=503)
        if script == "400":
            return web.json_response({"error": f"invalid number {PHONE}"}, status=400)
        if script == "always-502":
            return web.Response(status=502)
        return None

    fake = FakeProvider(
        lambda request, raw, n: web.json_response({"message_id": f"m-{n}"}), behaviour
    )
    async with Served(fake.app("/sms")) as gen:
        env = {
            **dispatch_env,
            "BLINDPOST_SMS_HTTP_URL": f"{gen.url}/sms",
            "BLINDPOST_DISPATCH_SEND_TIMEOUT_S": "1",
            "BLINDPOST_DISPATCH_MAX_ATTEMPTS": "3",
            "BLINDPOST_DISPATCH_MAX_AGE_S": "3600",
        }
        works = {
            script: make_work(Channel.SMS, PHONE, keypair[1], body=script)
            for script in ("timeout-once", "503-twice", "400", "always-502", "ok")
        }
        expired = make_work(
            Channel.SMS,
            PHONE,
            keypair[1],
            body="expired",
            accepted_at=datetime.now(UTC) - timedelta(hours=2),
        )
        topic = topics.dispatch(Channel.SMS)
        async with Served(create_sms_app(SmsSettings.from_env(env))):
            # A poison record first: it must not block the ones behind it on its partition.
            await produce(
                kafka_bootstrap,
                topic,
                [b"{not json", works["ok"].to_bytes()],
                [works["ok"].key, works["ok"].key],
            )
            await produce_work(kafka_bootstrap, topic, [*works.values(), expired, works["ok"]])
            events = await wait_for_events(kafka_bootstrap, topics.message_events, settled(6))

    by_id = outcomes(events)
    A, F, D = "dispatch.attempted", "dispatch.failed", "dispatch.succeeded"
    assert kinds(by_id[works["timeout-once"].ext_message_id]) == [
        (A, 1, None),
        (F, 1, "timeout"),
        (A, 2, None),
        (D, 2, None),
    ]
    # two inline attempts, then parked on the ledger, then the sweeper's third succeeds:
    # the park and the resumption are events too
    assert kinds(by_id[works["503-twice"].ext_message_id]) == [
        (A, 1, None),
        (F, 1, "http_503"),
        (A, 2, None),
        (F, 2, "http_503"),
        ("dispatch.parked", 2, "http_503"),
        ("dispatch.resumed", 3, None),
        (A, 3, None),
        (D, 3, None),
    ]
    resumed = payload_of(by_id[works["503-twice"].ext_message_id][5], DispatchResumed)
    assert resumed.resumed_from == "parked"
    assert kinds(by_id[works["400"].ext_message_id]) == [(A, 1, None), (F, 1, "http_400")]
    assert payload_of(by_id[works["400"].ext_message_id][-1], DispatchFailed).retryable is False
    assert kinds(by_id[works["always-502"].ext_message_id])[-1] == (
        F,
        3,
        "retries_exhausted:http_502",
    )
    assert kinds(by_id[expired.ext_message_id]) == [(F, 1, "expired")]
    assert seen == {"timeout-once": 2, "503-twice": 3, "400": 1, "always-502": 3, "ok": 1}
    # the same work item three times (poison record between): sent once, outcome stored once
    assert kinds(by_id[works["ok"].ext_message_id]) in (
        [(A, 1, None), (D, 1, None)],
        [(A, 1, None), (D, 1, None), (D, 1, None)],
    )
    assert len({e.event_id for e in by_id[works["ok"].ext_message_id]}) == 2
    dead = await read_topic(kafka_bootstrap, topics.dead_letter, expect=1)
    assert [r.value for r in dead] == [b"{not json"]
    for event in events:
        assert PHONE not in event.model_dump_json()  # the provider's error text is not passed on


async def test_smtp_421_is_retried_and_550_fails(dispatch_env, topics, keypair, kafka_bootstrap):
    handler = RecordingSmtpHandler(
        replies=[
            "421 4.7.0 Try again later",
            "250 OK",
            "550 5.1.1 <nobody@example.test>: no such user",
        ]
    )
    server, port = await smtp_server(handler)
    try:
        env = {
            **dispatch_env,
            "BLINDPOST_SMTP_PORT": str(port),
            "BLINDPOST_SMTP_POOL_SIZE": "1",
            "BLINDPOST_EMAIL_CONCURRENCY": "1",
        }
        first = make_work(
            Channel.EMAIL, "first@example.test", keypair[1], subject="1", text_body="one"
        )
        second = make_work(
            Channel.EMAIL, "nobody@example.test", keypair[1], subject="2", text_body="two"
        )
        async with Served(create_email_app(EmailSettings.from_env(env))):
            topic = topics.dispatch(Channel.EMAIL)
            await produce_work(kafka_bootstrap, topic, [first])
            await wait_for_events(kafka_bootstrap, topics.message_events, settled(1))
            await produce_work(kafka_bootstrap, topic, [second])
            events = await wait_for_events(kafka_bootstrap, topics.message_events, settled(2))
    finally:
        server.close()
    by_id = outcomes(events)
    A, F, D = "dispatch.attempted", "dispatch.failed", "dispatch.succeeded"
    assert kinds(by_id[first.ext_message_id]) == [
        (A, 1, None),
        (F, 1, "smtp_421"),
        (A, 2, None),
        (D, 2, None),
    ]
    assert kinds(by_id[second.ext_message_id]) == [(A, 1, None), (F, 1, "smtp_550")]
    assert payload_of(by_id[second.ext_message_id][-1], DispatchFailed).retryable is False
    assert [rcpt for _f, rcpt, _d in handler.received] == [["first@example.test"]]
    for event in events:
        assert "nobody@example.test" not in event.model_dump_json()


def breaker_parks(events: list[Event]) -> dict[uuid.UUID, DispatchParked]:
    """The parks for an open breaker (the first two, failing, parked for their 503s)."""
    parks = {
        e.ext_message_id: payload_of(e, DispatchParked)
        for e in events
        if e.type.value == "dispatch.parked"
    }
    return {mid: park for mid, park in parks.items() if park.reason == "circuit_open"}


async def test_circuit_breaker_parks_without_calling(
    dispatch_env, events_dsn, topics, keypair, kafka_bootstrap
):
    fake = FakeProvider(lambda request, raw, n: web.Response(status=503))
    async with Served(fake.app("/sms")) as gen:
        url = {"BLINDPOST_SMS_HTTP_URL": f"{gen.url}/sms"}
        env = dispatch_env | OPEN_BREAKER_SETTINGS | url
        first = [make_work(Channel.SMS, PHONE, keypair[1], body=f"a{i}") for i in range(2)]
        later = [make_work(Channel.SMS, PHONE, keypair[1], body=f"b{i}") for i in range(3)]
        topic = topics.dispatch(Channel.SMS)
        async with Served(create_sms_app(SmsSettings.from_env(env))):
            await produce_work(kafka_bootstrap, topic, first)
            await wait_for_events(
                kafka_bootstrap,
                topics.message_events,
                lambda events: sum(e.type.value == "dispatch.failed" for e in events) >= 2,
            )
            await produce_work(kafka_bootstrap, topic, later)
            conn = await asyncpg.connect(events_dsn)
            try:

                async def parked() -> list:
                    return await conn.fetch(
                        "SELECT reason FROM dispatch_ledger WHERE state = 'parked' AND reason = 'circuit_open'"
                    )

                for _ in range(300):
                    if len(await parked()) >= 3:
                        break
                    await asyncio.sleep(0.1)
                assert len(await parked()) == 3
            finally:
                await conn.close()
            # Each park is on the log, with its reason and when it will be retried.
            events = await wait_for_events(
                kafka_bootstrap,
                topics.message_events,
                lambda events: len(breaker_parks(events)) >= 3,
            )
    assert len(fake.requests) == 2  # the open breaker made no call for the later three
    parks = breaker_parks(events)
    assert set(parks) == {w.ext_message_id for w in later}
    for park in parks.values():
        assert (park.reason, park.attempt, park.provider) == ("circuit_open", 0, "generic")
        assert park.retry_at > datetime.now(UTC) + timedelta(seconds=60)
