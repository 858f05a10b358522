"""What a crash of the relay costs Smartico: a callback it answered is never called again,
whatever the broker is doing; one whose answer never came back is called again once.

The relay records Smartico's answer in its store the moment it arrives, with the events that
report it (published to Kafka afterwards from the store).  It used to hold the answer until
the broker acknowledged those events: a SIGKILL in between, or a broker outage longer than
the lease, called Smartico a second time for the same status (the chaos run's duplicates).
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from shared.domain import Channel, SmarticoStatus
from shared.events import CallbackDelivered, Event, EventType
from shared.topics import Topics
from tests.callback_relay.support import Smartico, lifecycle, publish, relay_caught_up, relay_env
from tests.support.events import payload_of
from tests.support.kafka import read_topic
from tests.support.polling import eventually
from tests.support.private_infra import private_kafka
from tests.support.processes import ServiceProcess

MESSAGES = 20


async def delivered_in_store(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        sql = "SELECT count(*) FROM callback_outbox WHERE state = 'delivered'"
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def recorded(dsn: str, n: int) -> bool:
    return await delivered_in_store(dsn) >= n


def relay_process(env: dict[str, str], log_path: Path) -> ServiceProcess:
    port = int(env["BLINDPOST_CALLBACK_RELAY_PORT"])
    return ServiceProcess("callback-relay", env, port, log_path)


@pytest.mark.slow
async def test_an_answered_callback_is_not_repeated_when_the_broker_is_away_and_the_relay_dies(
    base_env, topic_prefix, events_dsn, tmp_path
) -> None:
    endpoint, witness = Smartico(mode="error"), Smartico()
    await endpoint.start()
    await witness.start()
    async with private_kafka(tmp_path / "kafka") as kafka:
        topics = Topics(topic_prefix)
        env = relay_env(
            {**base_env, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap},
            events_dsn,
            f"http://127.0.0.1:{endpoint.port},http://127.0.0.1:{witness.port}",
            BLINDPOST_CALLBACK_RETRY_MAX_S="0.5",
            # A lease far shorter than the outage: an answered callback held back by the
            # broker would be claimed and called again.
            BLINDPOST_CALLBACK_LEASE_S="2",
            BLINDPOST_CALLBACK_TIMEOUT_S="0.5",
        )
        relay = relay_process(env, tmp_path / "relay.log")
        expected: set[tuple[str, str]] = set()
        try:
            await relay.start(timeout_s=60)
            events = []
            for _ in range(MESSAGES):
                mid, lifecycle_events = lifecycle(Channel.EMAIL, endpoint.url, [])
                events += lifecycle_events
                expected.add((str(mid), SmarticoStatus.ACCEPTED.value))
            await publish(kafka.bootstrap, topics, events)
            # Every status is in the store and being retried (Smartico answers error 1).
            await eventually(
                lambda: {(q["ext_message_id"], q["status"]) for q in endpoint.requests}
                >= expected,
                within=30,
                what="every callback tried once",
            )

            # The broker stops answering (frozen, as in a long pause or a partition: no JVM
            # restart to wait for); Smartico comes back.
            assert kafka.process is not None
            kafka.process.send_signal(signal.SIGSTOP)
            endpoint.mode = "up"
            await eventually(
                lambda: set(endpoint.delivered()) >= expected,
                within=30,
                what="every callback answered",
            )
            await eventually(
                lambda: recorded(events_dsn, MESSAGES),
                within=15,
                what="every answer recorded while the broker is away",
                details=relay.log_tail,
            )
            assert await delivered_in_store(events_dsn) == MESSAGES
            relay.kill()  # its events are not on Kafka yet

            kafka.process.send_signal(signal.SIGCONT)
            await relay.start(timeout_s=60)
            # The restarted relay read past everything and called a later message back.
            sentinels = await relay_caught_up(kafka.bootstrap, topics, witness)
            records = await read_topic(
                kafka.bootstrap, topics.message_events, expect=MESSAGES * 4, timeout_s=30
            )
        finally:
            if kafka.process is not None:
                kafka.process.send_signal(signal.SIGCONT)
            relay.stop()
            await endpoint.stop()
            await witness.stop()

    assert [key for key, n in endpoint.delivered().items() if n > 1] == []
    assert set(endpoint.delivered()) == expected
    # The events of answers recorded before the kill reached the log after the restart.
    delivered_events = Counter(
        (str(e.ext_message_id), payload_of(e, CallbackDelivered).status)
        for e in (Event.from_bytes(r.value) for r in records)
        if e.type is EventType.CALLBACK_DELIVERED and str(e.ext_message_id) not in sentinels
    )
    assert set(delivered_events) == expected


@pytest.mark.slow
async def test_a_callback_cut_off_mid_call_is_called_again_once(
    kafka_bootstrap, topics, base_env, events_dsn, tmp_path
) -> None:
    endpoint = Smartico(mode="hang")
    await endpoint.start()
    env = relay_env(
        base_env,
        events_dsn,
        f"http://127.0.0.1:{endpoint.port}",
        BLINDPOST_CALLBACK_LEASE_S="2",
    )
    relay = relay_process(env, tmp_path / "relay.log")
    try:
        await relay.start(timeout_s=60)
        mid, events = lifecycle(Channel.SMS, endpoint.url, [])
        await publish(kafka_bootstrap, topics, events)
        await eventually(lambda: len(endpoint.requests) == 1, within=30, what="the first call")
        relay.kill()  # Smartico may or may not have acted on it: nobody can know
        endpoint.mode = "up"
        await relay.start(timeout_s=60)
        await eventually(
            lambda: endpoint.delivered(), within=30, what="the call again, after the lease"
        )
        await eventually(
            lambda: recorded(events_dsn, 1), within=15, what="its answer recorded"
        )
    finally:
        relay.stop()
        await endpoint.stop()

    calls = [(q["ext_message_id"], q["status"], q["_answer"]) for q in endpoint.requests]
    assert calls == [(str(mid), "accepted", "hang"), (str(mid), "accepted", "ok")]
    assert "callback outcome unknown after a crash" in relay.log_path.read_text()
