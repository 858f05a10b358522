"""The worst moment for a SIGKILL, made to happen: a commit that starts while a record's
table writes are still being handed to the transaction (issue #14).  What is committed at
that moment is what a restart recovers; it must hold whole records, never a message's
state without the counts it records."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from faust.sensors import Sensor
from faust.streams import current_event
from faust.transport.producer import ProducerBuffer
from faust.types.tuples import FutureMessage

from services.deliverability.settings import DeliverabilitySettings
from services.deliverability.streams import Deliverability, build
from shared.domain import SmarticoStatus
from shared.kafka import topics_ready
from shared.topics import Topics
from tests.support import events as build_event
from tests.support.kafka import publish, read_topic
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(60)

DOMAIN = "mail.operator.example"


class Received(Sensor):
    """Offsets of the event-log records the agent has been handed."""

    def __init__(self, topic: str) -> None:
        super().__init__()
        self.topic = topic
        self.offsets: set[int] = set()

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        if tp.topic == self.topic:
            self.offsets.add(offset)


class HeldWrites:
    """Holds chosen table writes, named (record offset, n-th write of that record), before
    faust's sender hands them to its transactional producer, until released."""

    def __init__(self, running: Deliverability) -> None:
        buffer = cast(ProducerBuffer, running.app.producer.buffer)
        self.put, self.send = buffer.put, buffer._send_pending
        buffer.put = self._put  # type: ignore[method-assign]
        buffer._send_pending = self._send  # type: ignore[method-assign]
        self.names: dict[FutureMessage, tuple[int, int]] = {}
        self.per_record: Counter[int] = Counter()
        self.holding: dict[tuple[int, int], asyncio.Event] = {}
        self.reached: dict[tuple[int, int], asyncio.Event] = {}

    def hold(self, offset: int, nth: int) -> None:
        self.holding[offset, nth] = asyncio.Event()
        self.reached[offset, nth] = asyncio.Event()

    def release(self, offset: int, nth: int) -> None:
        self.holding[offset, nth].set()

    def release_all(self) -> None:
        for held in self.holding.values():
            held.set()

    def _put(self, fut: FutureMessage) -> None:
        event = current_event()
        if event is not None:
            offset = event.message.offset
            self.per_record[offset] += 1
            self.names[fut] = (offset, self.per_record[offset])
        self.put(fut)

    async def _send(self, fut: FutureMessage) -> None:
        name = self.names.pop(fut, None)
        if name in self.holding:
            self.reached[name].set()
            await self.holding[name].wait()
        await self.send(fut)


@pytest.fixture
async def running(base_env: dict[str, str], topics: Topics) -> AsyncIterator[Deliverability]:
    # Only the commits this test starts: faust's own timer would not fire in its minute.
    env = {**base_env, "BLINDPOST_DELIVERABILITY_COMMIT_INTERVAL_S": "3600"}
    settings = DeliverabilitySettings.from_env(env)
    (partitions,) = await topics_ready(settings.kafka, [topics.message_events])
    deliverability = build(settings, partitions)
    yield deliverability  # not started: the test wraps faust's sender first
    await deliverability.app.stop()
    shutil.rmtree(deliverability.app.conf.datadir, ignore_errors=True)


async def test_a_commit_while_a_record_is_written_commits_it_whole_or_not_at_all(
    running: Deliverability, topics: Topics, kafka_bootstrap: str
) -> None:
    app = running.app
    received = Received(topics.message_events)
    app.sensors.add(received)
    writes = HeldWrites(running)
    # Each record writes its message state, then its hourly count, then its daily ones
    # (one per 24 h window holding its hour).  One of the send's (offset 0) is held, so
    # a commit has something to wait for; the open's (offset 1) second is held, so its
    # message state is handed over and its counts are not.
    writes.hold(0, 3)
    writes.hold(1, 2)
    await running.declare_topics()  # starts the producer, and with it the sender
    try:
        await _commit_while_the_open_is_written(running, topics, kafka_bootstrap, writes, received)
    finally:
        writes.release_all()  # stopping flushes them


async def _commit_while_the_open_is_written(
    running: Deliverability,
    topics: Topics,
    kafka_bootstrap: str,
    writes: HeldWrites,
    received: Received,
) -> None:
    app = running.app
    mid = uuid.uuid4()
    sent = build_event.dispatched(mid, sending_domain=DOMAIN)
    await publish(kafka_bootstrap, topics.message_events, [sent])
    await app.start()
    await eventually(writes.reached[0, 3].is_set, within=30, what="the send's writes held")

    commit = asyncio.create_task(app.consumer.commit())
    opened = build_event.status_reported(mid, SmarticoStatus.OPENED)
    await publish(kafka_bootstrap, topics.message_events, [opened])
    await eventually(lambda: 1 in received.offsets, within=10, what="the open handed over")
    writes.release(0, 3)  # the commit may go on, as the open is being written
    await asyncio.wait_for(commit, timeout=30)
    await eventually(writes.reached[1, 2].is_set, within=10, what="the open's first write sent")

    # A SIGKILL now leaves what is committed, and a restart recovers exactly that.
    state = await _committed(kafka_bootstrap, running, "messages")
    counts = await _committed(kafka_bootstrap, running, "hourly")
    assert [v["counted"][0] for v in state.values()] == ["sent"], "the send was committed"
    assert [k for k in counts if "|sent|" in k], "with its count"
    opens = {k: v for k, v in counts.items() if "|open|" in k}
    message_says_open = any("open" in v["counted"] for v in state.values())
    assert message_says_open == bool(opens), (
        "the message state and the count it records commit together "
        f"(state: {state}, counts: {counts})"
    )


async def _committed(bootstrap: str, running: Deliverability, table: str) -> dict[str, Any]:
    topic = running.app.tables[table].changelog_topic.get_topic_name()
    found: dict[str, Any] = {}
    for record in await read_topic(bootstrap, topic, timeout_s=5):
        key, _window = json.loads(record.key)
        found[key] = json.loads(record.value) if record.value else None
    return found
