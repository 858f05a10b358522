"""Against the real broker: the envelope round trip, the transactional stage under SIGKILL,
poison records, and the consumer-lag gauge."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections import Counter

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.domain import Channel
from shared.events import Event, RecipientResolutionFailed
from shared.kafka import start_consumer, start_producer
from shared.lag import CONSUMER_LAG, OLDEST_AGE, ConsumerLagMonitor
from tests.support.kafka import publish, read_topic


def make_event(n: int) -> Event:
    return Event.create(
        uuid.uuid4(),
        RecipientResolutionFailed(channel=Channel.SMS, reason="no_address"),
        "test",
        discriminator=(n,),
    )


async def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def test_envelope_round_trip_through_the_broker(kafka_bootstrap, topics):
    events = [make_event(n) for n in range(5)]
    await publish(kafka_bootstrap, topics.message_events, events)
    records = await read_topic(kafka_bootstrap, topics.message_events, expect=5)
    received = [Event.from_bytes(r.value) for r in records]
    assert sorted(e.event_id for e in received) == sorted(e.event_id for e in events)
    assert all(r.key == Event.from_bytes(r.value).key for r in records)


async def copy_stage(bootstrap: str, prefix: str) -> tuple[str, str, str, list[str]]:
    """Source, target and dead-letter topics, and the command line of a copy stage between
    them (``tests/support/copy_stage.py``, a real process)."""
    source, target, dead = (f"{prefix}{n}" for n in ("in", "out", "dead"))
    for name in (source, target, dead):
        await create_topic(bootstrap, name)
    module = "tests.support.copy_stage"
    return (
        source,
        target,
        dead,
        [sys.executable, "-m", module, bootstrap, source, target, f"{prefix}copy", dead],
    )


async def test_transactional_stage_killed_half_way_leaves_no_duplicate_and_no_gap(
    kafka_bootstrap, topic_prefix
):
    source, target, _dead, command = await copy_stage(kafka_bootstrap, topic_prefix)
    events = [make_event(n) for n in range(100)]
    await publish(kafka_bootstrap, source, events)

    crashed = subprocess.run([*command, "--crash-on-batch", "3"], timeout=60, capture_output=True)
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    # The killed transaction's records did reach the log: a read_uncommitted reader sees them.
    dirty = await read_topic(
        kafka_bootstrap, target, timeout_s=3, isolation_level="read_uncommitted"
    )
    assert len(dirty) > 2 * 2 * 20 - 1

    survivor = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        records = await read_topic(kafka_bootstrap, target, expect=200, timeout_s=60)
    finally:
        survivor.kill()
        survivor.wait()
    copies = Counter(r.value.decode() for r in records)
    expected = {f"{e.event_id}:{c}" for e in events for c in (1, 2)}
    assert set(copies) == expected, "a gap"
    assert max(copies.values()) == 1, "a duplicate"


async def test_a_poison_record_is_dead_lettered_and_does_not_block_the_partition(
    kafka_bootstrap, topic_prefix
):
    source, target, dead, command = await copy_stage(kafka_bootstrap, topic_prefix)
    good = [make_event(n) for n in range(3)]
    producer = await start_producer(kafka_bootstrap)
    try:
        await producer.send_and_wait(source, good[0].to_bytes())
        await producer.send_and_wait(source, b"{not json")
        await producer.send_and_wait(source, good[1].to_bytes())
        await producer.send_and_wait(source, b'{"event_id": "x"}')
        await producer.send_and_wait(source, good[2].to_bytes())
    finally:
        await producer.stop()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        copied = await read_topic(kafka_bootstrap, target, expect=6, timeout_s=30)
        dead_lettered = await read_topic(kafka_bootstrap, dead, expect=2, timeout_s=10)
    finally:
        proc.kill()
        proc.wait()
    assert len(copied) == 6
    assert [r.value for r in dead_lettered] == [b"{not json", b'{"event_id": "x"}']
    reasons = [dict(r.headers)["blindpost.reason"].decode() for r in dead_lettered]
    assert all(reason.startswith("ValidationError") for reason in reasons)
    assert dict(dead_lettered[0].headers)["blindpost.source"].decode() == f"{source}/0/1"


async def test_consumer_lag_gauge_matches_the_broker(kafka_bootstrap, topic_prefix):
    topic = f"{topic_prefix}lag"
    await create_topic(kafka_bootstrap, topic, partitions=2)
    events = [make_event(n) for n in range(30)]
    published_from = time.time()
    await publish(kafka_bootstrap, topic, events)
    group = f"{topic_prefix}group"
    consumer = await start_consumer(kafka_bootstrap, group, [topic], max_poll_records=7)
    try:
        consumed = 0
        while consumed < 7:
            batch = await consumer.getmany(timeout_ms=1000, max_records=7)
            for tp, records in batch.items():
                consumed += len(records)
                await consumer.commit({tp: records[-1].offset + 1})
    finally:
        await consumer.stop()

    monitor = ConsumerLagMonitor(kafka_bootstrap, group, [topic])
    await monitor.start()
    try:
        lag = await monitor.measure()
    finally:
        await monitor.stop()

    # What the broker itself says, asked independently.
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    reader = await start_consumer(kafka_bootstrap, f"{group}-probe", [])
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(topic, p) for p in (0, 1)]
        ends = await reader.end_offsets(tps)
    finally:
        await reader.stop()
        await admin.close()
    for tp in tps:
        position = committed[tp].offset if tp in committed else 0
        assert lag[tp] == ends[tp] - position
        assert CONSUMER_LAG.labels(group, topic, str(tp.partition))._value.get() == lag[tp]
        # The oldest unprocessed record was published by this test, so it is no older.
        age = OLDEST_AGE.labels(group, topic, str(tp.partition))._value.get()
        assert (0 < age <= time.time() - published_from) if lag[tp] else age == 0
    assert sum(lag.values()) == 30 - consumed
    await asyncio.sleep(0)
