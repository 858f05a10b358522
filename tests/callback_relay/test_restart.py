"""Each (message, status) is reported once across SIGKILLs and rebalances of real relay
processes sharing one consumer group and one store."""

from __future__ import annotations

from collections import Counter

import asyncpg
import pytest

from shared.domain import Channel, SmarticoStatus
from shared.events import CallbackDelivered, Event, EventType
from tests.callback_relay.support import (
    Smartico,
    lifecycle,
    publish,
    relay_caught_up,
    relay_env,
)
from tests.support.events import payload_of
from tests.support.kafka import read_topic
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

S = SmarticoStatus


def batch(url: str, n: int) -> tuple[list[Event], set[tuple[str, str]]]:
    events: list[Event] = []
    expected = set()
    for i in range(n):
        channel = [Channel.EMAIL, Channel.SMS, Channel.CIM][i % 3]
        mid, lifecycle_events = lifecycle(channel, url, [S.DELIVERED, S.OPENED])
        events += lifecycle_events
        expected |= {(str(mid), s) for s in ("accepted", "delivered", "opened")}
    return events, expected


async def all_recorded(dsn: str, n: int) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        sql = "SELECT count(*) FROM callback_outbox WHERE state = 'delivered'"
        return bool(await conn.fetchval(sql) >= n)
    finally:
        await conn.close()


@pytest.mark.slow
async def test_sigkill_and_rebalance_report_each_status_once(
    kafka_bootstrap, topics, base_env, events_dsn, tmp_path
) -> None:
    endpoint, witness = Smartico(), Smartico()
    await endpoint.start()
    await witness.start()
    # A short lease: callbacks claimed by a killed replica are retried after 6 s, not 60 s.
    env = relay_env(
        base_env,
        events_dsn,
        f"http://127.0.0.1:{endpoint.port},http://127.0.0.1:{witness.port}",
        BLINDPOST_CALLBACK_TIMEOUT_S="2",
        BLINDPOST_CALLBACK_LEASE_S="6",
    )

    def relay(name: str) -> ServiceProcess:
        port = free_port()
        return ServiceProcess(
            "callback-relay",
            {**env, "BLINDPOST_CALLBACK_RELAY_PORT": str(port)},
            port,
            tmp_path / f"{name}.log",
        )

    first, second = relay("first"), relay("second")
    expected: set[tuple[str, str]] = set()
    try:
        await first.start()
        events, wanted = batch(endpoint.url, 30)
        expected |= wanted
        await publish(kafka_bootstrap, topics, events)
        await eventually(
            lambda: set(endpoint.delivered()) >= expected, within=30, what="the first batch"
        )

        # Smartico goes down; a second replica joins (rebalance) while callbacks are pending.
        await endpoint.stop()
        events, wanted = batch(endpoint.url, 30)
        expected |= wanted
        await publish(kafka_bootstrap, topics, events)
        await second.start()
        await read_topic(kafka_bootstrap, topics.message_events, expect=400, timeout_s=15)
        first.kill()
        events, wanted = batch(endpoint.url, 30)
        expected |= wanted
        await publish(kafka_bootstrap, topics, events)  # while one replica is dead
        await endpoint.start()
        await eventually(
            lambda: set(endpoint.delivered()) >= expected,
            within=90,
            what="every callback, by the second replica",
            details=second.log_tail,
        )

        # Once every result is recorded, a SIGKILL and a restart report nothing again.  (A
        # kill between Smartico's 200 and its recording would repeat that one call after
        # the lease: the window no store can close, see docs/statuses.md.)
        await eventually(
            lambda: all_recorded(events_dsn, len(expected)),
            within=30,
            what="every delivery recorded",
            details=second.log_tail,
        )
        second.kill()
        await first.start()  # resumes from the store's position: nothing is reported again
        sentinels = await relay_caught_up(kafka_bootstrap, topics, witness)
    finally:
        first.stop()
        second.stop()
        await endpoint.stop()
        await witness.stop()

    counts = endpoint.delivered()
    assert set(counts) == expected
    assert [key for key, n in counts.items() if n > 1] == []
    api_key = base_env["BLINDPOST_CALLBACK_API_KEY"]
    for process in (first, second):
        assert api_key not in process.log_path.read_text()
    # 90 lifecycles of 4 events, then an attempt and a delivered event per status.
    records = await read_topic(
        kafka_bootstrap, topics.message_events, expect=90 * 4 + 2 * len(expected), timeout_s=30
    )
    log = [Event.from_bytes(r.value) for r in records]
    delivered = Counter(
        (str(e.ext_message_id), payload_of(e, CallbackDelivered).status)
        for e in log
        if e.type is EventType.CALLBACK_DELIVERED and str(e.ext_message_id) not in sentinels
    )
    assert set(delivered) == expected
