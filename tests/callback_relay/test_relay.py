"""The relay end to end against the real broker and PostgreSQL and a Smartico stand-in."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from prometheus_client import REGISTRY

from shared.domain import Channel, SmarticoStatus
from shared.events import (
    CallbackAttempted,
    CallbackDeadLettered,
    CallbackDelivered,
    Event,
    EventType,
)
from tests.callback_relay.support import (
    Smartico,
    lifecycle,
    publish,
    relay_caught_up,
    relay_env,
    running_relay,
    smartico,
)
from tests.support.events import payload_of
from tests.support.kafka import read_topic
from tests.support.polling import eventually

S = SmarticoStatus


def _events(records) -> list[Event]:
    return [Event.from_bytes(r.value) for r in records]


@pytest.mark.slow
async def test_an_endpoint_down_for_a_while_then_back_gets_every_status_exactly_once(
    kafka_bootstrap, topics, base_env, events_dsn
) -> None:
    endpoint = Smartico()  # not started: connection refused
    url = endpoint.url + "?label=7&client=casino"
    expected: Counter[tuple[str, str]] = Counter()
    events = []
    for channel, statuses in [
        (Channel.EMAIL, [S.DELIVERED, S.OPENED, S.CLICKED, S.OPENED]),  # opened twice: once
        (Channel.WHATSAPP, [S.DELIVERED]),
        (Channel.CIM, [S.DELIVERED]),
    ] * 5:
        mid, lifecycle_events = lifecycle(channel, url, statuses)
        events += lifecycle_events
        for status in {S.ACCEPTED, *statuses}:
            expected[(str(mid), status.value)] = 1
    witness = Smartico()
    await witness.start()
    env = relay_env(base_env, events_dsn, f"http://127.0.0.1:{endpoint.port},http://127.0.0.1:{witness.port}")
    async with running_relay(env):
        await publish(kafka_bootstrap, topics, events)
        # Down long enough for several retries of every callback.
        attempts = await read_topic(
            kafka_bootstrap,
            topics.message_events,
            expect=len(events) + 3 * len(expected),
            timeout_s=20,
        )
        retried = [e for e in _events(attempts) if e.type is EventType.CALLBACK_ATTEMPTED]
        assert {payload_of(e, CallbackAttempted).outcome for e in retried} == {"retry"}
        await endpoint.start()
        await eventually(
            lambda: sum(endpoint.delivered().values()) >= len(expected),
            within=30,
            what="every status called back",
        )
        await publish(kafka_bootstrap, topics, events)  # a redelivered log changes nothing
        await relay_caught_up(kafka_bootstrap, topics, witness)
    await endpoint.stop()
    await witness.stop()

    assert endpoint.delivered() == expected
    by_mid = {(q["ext_message_id"]): q for q in endpoint.requests}
    for query in endpoint.requests:
        assert query["label"] == "7" and query["client"] == "casino"
        assert query["api_key"] == base_env["BLINDPOST_CALLBACK_API_KEY"]
        assert query["status"] in {s.value for s in SmarticoStatus}
    types = Counter(q["type"] for q in by_mid.values())
    assert types == {"email": 5, "sms": 5, "cim": 5}

    log = _events(
        await read_topic(
            kafka_bootstrap,
            topics.message_events,
            expect=2 * len(events) + 2 * len(expected),
            timeout_s=20,
        )
    )
    delivered = Counter(
        (str(e.ext_message_id), payload_of(e, CallbackDelivered).status)
        for e in log
        if e.type is EventType.CALLBACK_DELIVERED and str(e.ext_message_id) in by_mid
    )
    assert set(delivered) == set(expected)


@pytest.mark.slow
async def test_an_endpoint_answering_error_code_1_is_retried_then_dead_lettered(
    kafka_bootstrap, topics, base_env, events_dsn
) -> None:
    async with smartico("error") as endpoint:
        mid, events = lifecycle(Channel.SMS, endpoint.url, [S.DELIVERED])
        env = relay_env(
            base_env,
            events_dsn,
            f"http://127.0.0.1:{endpoint.port}",
            BLINDPOST_CALLBACK_RETRY_PERIOD_S="4",
        )
        before = (
            REGISTRY.get_sample_value(
                "blindpost_callbacks_dead_lettered_total", {"reason": "retries_exhausted"}
            )
            or 0
        )
        async with running_relay(env):
            await publish(kafka_bootstrap, topics, events)
            dead = await read_topic(
                kafka_bootstrap, topics.callbacks_dead_letter, expect=2, timeout_s=20
            )
        after = REGISTRY.get_sample_value(
            "blindpost_callbacks_dead_lettered_total", {"reason": "retries_exhausted"}
        )

    records = [json.loads(r.value) for r in dead]
    assert sorted(r["status"] for r in records) == ["accepted", "delivered"]
    assert all(r["ext_message_id"] == str(mid) and r["attempts"] >= 2 for r in records)
    assert all(
        "api_key" not in r["callback_url"] and "error_code 1" in r["reason"] for r in records
    )
    assert after == before + 2
    assert len(endpoint.requests) >= 4  # each status tried more than once
    # The lifecycle (2 events), at least 4 attempts and 2 dead letters.
    log = _events(await read_topic(kafka_bootstrap, topics.message_events, expect=8, timeout_s=15))
    dead_events = [e for e in log if e.type is EventType.CALLBACK_DEAD_LETTERED]
    dead_statuses = sorted(payload_of(e, CallbackDeadLettered).status for e in dead_events)
    assert dead_statuses == ["accepted", "delivered"]
    attempts = [e for e in log if e.type is EventType.CALLBACK_ATTEMPTED]
    assert all(payload_of(e, CallbackAttempted).error_code == 1 for e in attempts)
    assert not [e for e in log if e.type is EventType.CALLBACK_DELIVERED]
