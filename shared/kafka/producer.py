"""A Kafka producer that replaces itself when aiokafka leaves it unable to send.

Why (aiokafka 0.14, reproduced by restarting a broker under a stream of sends): an idempotent
producer numbers each partition's batches when it drains them.  While the broker is away, a
batch older than ``request_timeout_ms`` whose partition has no leader (the broker is stopping,
or starting and has not elected one yet) is failed in ``MessageAccumulator.drain_by_nodes``
without being written, but its sequence numbers are spent.  The broker then refuses every
later batch of that partition with OutOfOrderSequenceNumber, which aiokafka treats as final:
the producer is wedged for good.  The same holds for any other failed delivery (the sequence
moved on, the broker's did not), and a transactional producer whose sender task died
(ProducerFenced, an unexpected error) fails everything sent to it from then on.  The Java
client resets its producer id in these cases; aiokafka does not, so this module does it.

Invariants:
- A record is acknowledged to its sender only when the broker acknowledged it (``acks=all``);
  whatever the replaced producer still held is failed to its senders, never dropped silently.
  (Such a record may still be on the log: its sender was told "failed", and retries it.)
- A transaction commits only when every record sent in it was acknowledged: aiokafka would
  commit, offsets included, over a failed batch.  Otherwise it is aborted (or, on a fatal
  error, left to the new producer's initialisation to abort), so a stage never commits
  offsets past outputs that are not on the log.
- One replacement at a time; a caller that gives up does not cancel it.  Until a replacement
  has started, sends and :meth:`RecoveringProducer.check` fail, so readiness reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    InvalidTxnState,
    KafkaConnectionError,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)
from aiokafka.protocol.metadata import MetadataRequest
from prometheus_client import Counter

from shared.logging import get_logger

log = get_logger(__name__)

# Errors after which a producer's id, epoch or sequence numbers no longer match the broker's.
FATAL_PRODUCER_ERRORS: tuple[type[BaseException], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    InvalidTxnState,
    ProducerFenced,
)
RETIRE_GRACE_S = 2.0

PRODUCERS_REPLACED = Counter(
    "blindpost_kafka_producers_replaced_total",
    "Kafka producers replaced because they could no longer send",
    ["reason"],
)


class ProducerWedged(KafkaError):
    """The producer cannot send until it has been replaced (under way)."""

    retriable = True


class RecoveringProducer:
    """``send``/``send_and_wait``/``flush``/``transaction``/``send_offsets_to_transaction``/
    ``stop`` as on :class:`AIOKafkaProducer`, over a producer replaced when it breaks."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._current: AIOKafkaProducer | None = None
        self._broken: str | None = None
        self._replacing: asyncio.Task[AIOKafkaProducer] | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        self._in_transaction: AIOKafkaProducer | None = None
        self._deliveries: list[asyncio.Future[Any]] = []
        self._stopped = False

    async def start(self) -> None:
        self._current = await self._new_producer()

    @property
    def client(self) -> Any:
        """The current producer's client (for metadata probes)."""
        if self._current is None:
            raise ProducerWedged("no producer yet")
        return self._current.client

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        """Queue one record; the returned future resolves once the broker acknowledged it."""
        producer = self._in_transaction or await self._usable_producer()
        try:
            delivery = await producer.send(topic, value, key, partition, timestamp_ms, headers)
        except FATAL_PRODUCER_ERRORS as exc:
            self._mark_broken(producer, exc)
            raise
        delivery.add_done_callback(lambda done: self._watch(producer, done))
        if self._in_transaction is not None:
            self._deliveries.append(delivery)
        return delivery

    async def send_and_wait(self, topic: str, value: bytes | None = None, **kwargs: Any) -> Any:
        return await (await self.send(topic, value, **kwargs))

    async def flush(self) -> None:
        if self._current is not None:
            await self._current.flush()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One Kafka transaction, committed only if every record sent in it was delivered."""
        producer = await self._usable_producer()
        self._in_transaction, self._deliveries = producer, []
        try:
            async with producer.transaction():
                yield
                # aiokafka's commit does not look at failed batches: look here, so that
                # a failure aborts the transaction (and its offsets) instead.
                await asyncio.gather(*self._deliveries)
        except BaseException as exc:
            if isinstance(exc, FATAL_PRODUCER_ERRORS) or not _can_send(producer):
                self._mark_broken(producer, exc)
            raise
        finally:
            self._in_transaction, self._deliveries = None, []

    async def send_offsets_to_transaction(self, offsets: Any, group_id: str) -> None:
        if self._in_transaction is None:
            raise InvalidTxnState("not in a transaction")
        await self._in_transaction.send_offsets_to_transaction(offsets, group_id)

    async def check(self, probe_topic: str | None = None) -> None:
        """Readiness: fails while the producer is wedged (and starts replacing it), and,
        with ``probe_topic``, while no broker answers a metadata request for it."""
        producer = self._current
        if producer is None or self._broken is not None or not _can_send(producer):
            self._start_replacing()
            raise ProducerWedged(self._broken or "producer cannot send")
        if probe_topic is None:
            return
        brokers = producer.client.cluster.brokers()
        if not brokers:
            raise KafkaConnectionError("no broker known")
        node_id = min(broker.nodeId for broker in brokers)
        await producer.client.send(node_id, MetadataRequest([probe_topic]))

    async def stop(self) -> None:
        self._stopped = True
        if self._replacing is not None and not self._replacing.done():
            self._replacing.cancel()
            with contextlib.suppress(BaseException):
                await self._replacing
        if self._current is not None:
            current, self._current = self._current, None
            if self._broken is None and _can_send(current):
                await current.stop()
            else:
                await self._retire(current)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)

    # -- replacing --------------------------------------------------------------------

    async def _new_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(**self._config)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()  # closes the connections a half-started producer opened
            raise
        return producer

    async def _usable_producer(self) -> AIOKafkaProducer:
        producer = self._current
        if producer is not None and self._broken is None and _can_send(producer):
            return producer
        return await asyncio.shield(self._start_replacing())

    def _start_replacing(self) -> asyncio.Task[AIOKafkaProducer]:
        if self._stopped:
            raise ProducerWedged("producer stopped")
        if self._replacing is None or self._replacing.done():
            self._replacing = asyncio.create_task(self._replace(), name="kafka-producer-replace")
            # Retrieved here: a failed attempt is reported to its waiters, if any, and
            # the next send or readiness probe makes a new one.
            self._replacing.add_done_callback(lambda t: t.cancelled() or t.exception())
        return self._replacing

    async def _replace(self) -> AIOKafkaProducer:
        reason = self._broken or "producer cannot send"
        old, self._current = self._current, None
        if old is not None:
            task = asyncio.create_task(self._retire(old), name="kafka-producer-retire")
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        producer = await self._new_producer()
        self._current, self._broken = producer, None
        PRODUCERS_REPLACED.labels(reason).inc()
        log.warning("kafka producer replaced", reason=reason)
        return producer

    async def _retire(self, producer: AIOKafkaProducer) -> None:
        """Give what the broken producer holds a moment to be delivered, fail the rest to
        its senders, and close it."""
        with contextlib.suppress(Exception, TimeoutError):
            async with asyncio.timeout(RETIRE_GRACE_S):
                await producer.flush()
        producer._message_accumulator.fail_all(ProducerWedged("producer replaced"))
        with contextlib.suppress(Exception):
            await producer.stop()

    def _watch(self, producer: AIOKafkaProducer, delivery: asyncio.Future[Any]) -> None:
        """Any failed delivery leaves the producer's sequence numbers ahead of the broker's."""
        if delivery.cancelled() or delivery.exception() is None:
            return
        self._mark_broken(producer, delivery.exception())

    def _mark_broken(self, producer: AIOKafkaProducer, exc: BaseException | None) -> None:
        if producer is self._current and self._broken is None:
            self._broken = type(exc).__name__
            log.warning("kafka producer cannot send any more", error=self._broken)


def _can_send(producer: AIOKafkaProducer) -> bool:
    # aiokafka keeps these private; pinned by the version in pyproject.toml.
    sender_task = producer._sender.sender_task
    if sender_task is None or sender_task.done():
        return False
    txn_manager = producer._txn_manager
    return not (txn_manager is not None and txn_manager.is_fatal_error())


async def start_recovering_producer(config: dict[str, Any]) -> RecoveringProducer:
    producer = RecoveringProducer(config)
    await producer.start()
    return producer
