"""A producer that aiokafka leaves unable to send is replaced (``shared.producer``): intake
accepts again by itself, never answers 0 for a record that is not on the log, and reports
not ready while it cannot send.

aiokafka wedges an idempotent producer when it spends sequence numbers on a batch it then
fails without writing (a batch that expired while its partition had no leader, as during a
broker restart): the broker refuses every later batch of that partition with
OutOfOrderSequenceNumber.  The first test creates that state exactly; the second restarts and
kills a broker private to the test under a stream of requests, as an operator would."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiokafka import TopicPartition

from services.intake.app import PRODUCER, create_app
from services.intake.settings import IntakeSettings
from shared.domain import Channel
from shared.events import Event, EventType
from shared.kafka import ensure_topics
from shared.kafka.producer import RecoveringProducer
from shared.topics import Topics
from tests.intake.conftest import (
    SECRET,
    body_for,
    facts,
    publish_facts,
    wait_for_directory,
    wait_ready,
)
from tests.intake.private_infra import PrivateKafka
from tests.intake.test_recovery import private_kafka  # noqa: F401 - a fixture
from tests.support.kafka import read_topic

# Far above the 2 s intake promises: only a hang would reach it.
GUARD = aiohttp.ClientTimeout(total=10)
RECOVERY_S = 20.0


class Intake:
    """The production app served in this process, and a Smartico-like client."""

    def __init__(self, app: web.Application, session: aiohttp.ClientSession, base_url: str) -> None:
        self.app = app
        self.session = session
        self.base_url = base_url

    @property
    def producer(self) -> RecoveringProducer:
        return self.app[PRODUCER]

    async def post(self, body: dict) -> dict:
        async with self.session.post(
            f"{self.base_url}/v1/email", json=body, headers={"Authorization": SECRET}
        ) as response:
            assert response.status == 200
            return await response.json()

    async def readiness(self) -> tuple[int, dict]:
        async with self.session.get(self.base_url + "/readyz") as response:
            return response.status, await response.json()

    async def until_ready(self) -> None:
        """A batch queued during the outage may still fail (and its producer be replaced)
        after the first request is accepted again: ready again within the same bound."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECOVERY_S
        while (await self.readiness())[0] != 200:
            assert loop.time() < deadline, "intake not ready again"
            await asyncio.sleep(0.2)

    async def until_accepted(self, body: dict) -> dict:
        """Smartico's retries: the same request until it is accepted."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECOVERY_S
        while loop.time() < deadline:
            answer = await self.post(body)
            if answer["error_code"] == 0:
                return answer
            assert answer["error_code"] == 6, answer
            await asyncio.sleep(0.2)
        raise AssertionError(f"intake did not accept again within {RECOVERY_S}s")


@contextlib.asynccontextmanager
async def serving(env: dict[str, str], bootstrap: str, topics: Topics) -> AsyncIterator[Intake]:
    settings = IntakeSettings.from_env(env)
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1", port=settings.intake_port)
    await server.start_server()
    try:
        async with aiohttp.ClientSession(timeout=GUARD) as session:
            base_url = f"http://127.0.0.1:{settings.intake_port}"
            await wait_ready(session, base_url)
            yield Intake(app, session, base_url)
    finally:
        await server.close()


async def with_a_subject(intake_env: dict[str, str], bootstrap: str, topics: Topics) -> str:
    user = f"r-{uuid.uuid4().hex[:8]}"
    await publish_facts(bootstrap, topics, facts(user, {Channel.EMAIL}))
    await wait_for_directory(intake_env["DATABASE_URL"], user)
    return user


async def accepted_on_log(bootstrap: str, topic: str, expect: int) -> collections.Counter[str]:
    records = await read_topic(bootstrap, topic, expect=expect, timeout_s=30)
    events = [Event.from_bytes(r.value) for r in records]
    # The refusals (6) are on the log too, as message.refused on streams of their own.
    return collections.Counter(
        str(e.ext_message_id) for e in events if e.type is EventType.MESSAGE_ACCEPTED
    )


async def test_a_wedged_producer_is_replaced_and_not_ready_meanwhile(
    intake_env: dict[str, str], kafka_bootstrap: str, topics: Topics
):
    async with serving(intake_env, kafka_bootstrap, topics) as intake:
        user = await with_a_subject(intake_env, kafka_bootstrap, topics)
        # Until the producer has written to every partition: the broker refuses a gap only
        # in a sequence it knows.
        producer = intake.producer._current
        txn_manager = producer._txn_manager  # type: ignore[union-attr]
        partitions = [
            TopicPartition(topics.message_events, partition)
            for partition in await producer.partitions_for(topics.message_events)  # type: ignore[union-attr]
        ]
        before: list[str] = []
        while not all(txn_manager.sequence_number(tp) for tp in partitions):
            answer = await intake.post(body_for(Channel.EMAIL, user))
            assert answer["error_code"] == 0
            before.append(answer["ext_message_id"])
            assert len(before) < 500
        # What aiokafka's expiry does: sequence numbers spent on batches never written.
        for tp in partitions:
            txn_manager.increment_sequence_number(tp, 3)

        body = body_for(Channel.EMAIL, user)
        refused = await intake.post(body)
        assert refused["error_code"] == 6
        status, readiness = await intake.readiness()
        assert status == 503 and readiness["checks"]["kafka"] == "ProducerWedged", readiness

        retried = await intake.until_accepted(body)
        assert (await intake.readiness())[0] == 200

    on_log = await accepted_on_log(kafka_bootstrap, topics.message_events, len(before) + 1)
    assert on_log == dict.fromkeys([*before, retried["ext_message_id"]], 1)


class Stream:
    """E-mails as Smartico sends them, one new uid every few milliseconds, each answer kept."""

    def __init__(self, intake: Intake, user: str) -> None:
        self.intake = intake
        self.user = user
        self.codes: list[int] = []
        self.accepted: list[str] = []
        self.accepted_at: list[float] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._running = True

    async def run(self) -> None:
        while self._running:
            self._tasks.append(asyncio.create_task(self._one()))
            await asyncio.sleep(0.02)

    async def _one(self) -> None:
        answer = await self.intake.post(body_for(Channel.EMAIL, self.user))
        self.codes.append(answer["error_code"])
        if answer["error_code"] == 0:
            self.accepted.append(answer["ext_message_id"])
            self.accepted_at.append(asyncio.get_running_loop().time())

    async def accepted_again(self, since: float) -> float:
        """Seconds from ``since`` to the first request accepted after it."""
        loop = asyncio.get_running_loop()
        while loop.time() < since + RECOVERY_S:
            later = [t for t in self.accepted_at if t > since]
            if later:
                return later[0] - since
            await asyncio.sleep(0.1)
        raise AssertionError(f"intake did not accept again within {RECOVERY_S}s")

    async def stop(self) -> None:
        """Every request answered (an answer that broke the client's expectations raises)."""
        self._running = False
        await asyncio.gather(*self._tasks)


@pytest.mark.slow
async def test_intake_accepts_again_after_broker_restarts_and_kills(
    private_kafka: PrivateKafka,  # noqa: F811 - the fixture imported above
    intake_env: dict[str, str],
    topic_prefix: str,
):
    """Stopped for longer than the producer's request timeout (so that queued batches expire,
    the way it wedged in production), then killed outright: each time, intake accepts again
    within a bounded time, and every request answered 0 is on the log exactly once."""
    bootstrap = private_kafka.bootstrap
    topics = Topics(topic_prefix)
    await ensure_topics(bootstrap, topics)
    env = {**intake_env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    async with serving(env, bootstrap, topics) as intake:
        user = await with_a_subject(env, bootstrap, topics)
        stream = Stream(intake, user)
        running = asyncio.create_task(stream.run())
        try:
            for outage, down_s in (("stop", 12.0), ("kill", 1.0)):
                await asyncio.sleep(1.0)
                if outage == "kill":
                    broker = private_kafka.process
                    assert broker is not None
                    broker.send_signal(signal.SIGKILL)
                    await asyncio.to_thread(broker.wait)
                else:
                    await private_kafka.stop()
                await asyncio.sleep(down_s)
                await private_kafka.start()
                await stream.accepted_again(asyncio.get_running_loop().time())
                await intake.until_ready()
        finally:
            running.cancel()
            await stream.stop()

    assert set(stream.codes) == {0, 6}  # the outages were seen, and nothing else went wrong
    on_log = await accepted_on_log(bootstrap, topics.message_events, len(stream.accepted))
    assert {mid: on_log[mid] for mid in stream.accepted} == dict.fromkeys(stream.accepted, 1)
