"""Consumer lag per partition as Prometheus gauges, measured the way the broker sees it:
the group's committed offset against the partition's end offset, and the age of the oldest
record the group has not committed yet (the timestamp of the record at the committed offset).

Every replica of a group measures every partition of the group, so Prometheus holds one
series per replica for each partition; the recording rules in deploy/alerts/ take the max
across replicas (``blindpost:kafka_consumer_lag_messages:max``) and dashboards and alerts
read those, never a sum of the raw series (docs/observability.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

from shared.kafka.clients import Kafka, client_config
from shared.lifecycle import provide, run_background
from shared.logging import get_logger
from shared.settings import KafkaSettings

log = get_logger(__name__)

CONSUMER_LAG = Gauge(
    "blindpost_kafka_consumer_lag_messages",
    "Records in the partition not yet committed by the consumer group",
    ["group", "topic", "partition"],
)
COMMITTED_OFFSET = Gauge(
    "blindpost_kafka_consumer_committed_offset",
    "The consumer group's committed offset",
    ["group", "topic", "partition"],
)
OLDEST_AGE = Gauge(
    "blindpost_kafka_consumer_oldest_unprocessed_age_seconds",
    "Age of the oldest record the group has not committed (0 when it is caught up)",
    ["group", "topic", "partition"],
)


class ConsumerLagMonitor:
    """Polls the broker; one per consumer group per process."""

    def __init__(
        self, kafka: Kafka, group_id: str, topics: Sequence[str], interval_s: float = 5.0
    ) -> None:
        self.kafka = kafka
        self.group_id = group_id
        self.topics = list(topics)
        self.interval_s = interval_s
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._reader: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(**client_config(self.kafka))
        await self._admin.start()
        # No group: only used to ask for end offsets.
        self._offsets = AIOKafkaConsumer(**client_config(self.kafka), enable_auto_commit=False)
        await self._offsets.start()
        # No group either: reads the one record at each lagging partition's committed offset.
        self._reader = AIOKafkaConsumer(
            **client_config(self.kafka),
            enable_auto_commit=False,
            isolation_level="read_committed",
            max_partition_fetch_bytes=64 * 1024,
        )
        await self._reader.start()

    async def stop(self) -> None:
        if self._reader:
            await self._reader.stop()
        if self._offsets:
            await self._offsets.stop()
        if self._admin:
            await self._admin.close()

    async def measure(self) -> dict[TopicPartition, int]:
        """Sets the gauges and returns the lag per partition."""
        assert self._admin and self._offsets, "start() first"
        partitions = []
        for topic in self.topics:
            for partition in self._offsets.partitions_for_topic(topic) or await self._partitions(
                topic
            ):
                partitions.append(TopicPartition(topic, partition))
        if not partitions:
            return {}
        committed = await self._admin.list_consumer_group_offsets(self.group_id)
        ends = await self._offsets.end_offsets(partitions)
        lag, positions = {}, {}
        for tp in partitions:
            meta = committed.get(tp)
            positions[tp] = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag[tp] = max(0, ends[tp] - positions[tp])
            labels = (self.group_id, tp.topic, str(tp.partition))
            CONSUMER_LAG.labels(*labels).set(lag[tp])
            COMMITTED_OFFSET.labels(*labels).set(positions[tp])
        oldest = await self._oldest_timestamps({tp: positions[tp] for tp in lag if lag[tp]})
        now = time.time()
        for tp in partitions:
            # A lagging partition whose record could not be read keeps its last age.
            if not lag[tp] or tp in oldest:
                age = max(0.0, now - oldest[tp]) if lag[tp] else 0.0
                OLDEST_AGE.labels(self.group_id, tp.topic, str(tp.partition)).set(age)
        return lag

    async def _oldest_timestamps(
        self, positions: dict[TopicPartition, int], within_s: float = 2.0
    ) -> dict[TopicPartition, float]:
        """The timestamp (seconds) of the first record at or after each position; a
        partition is paused once its record is in, so nothing more is fetched from it."""
        reader = self._reader
        assert reader
        if not positions:
            return {}
        reader.assign(list(positions))
        for tp, offset in positions.items():
            reader.seek(tp, offset)
        found: dict[TopicPartition, float] = {}
        deadline = time.monotonic() + within_s
        while len(found) < len(positions) and time.monotonic() < deadline:
            fetched = await reader.getmany(timeout_ms=200, max_records=len(positions) * 8)
            for tp, records in fetched.items():
                if records and tp not in found:
                    found[tp] = records[0].timestamp / 1000
                    reader.pause(tp)
        return found

    async def _partitions(self, topic: str) -> set[int]:
        assert self._offsets
        await self._offsets._client.force_metadata_update()  # noqa: SLF001 - no public call
        return self._offsets.partitions_for_topic(topic) or set()

    async def run(self, interval_s: float | None = None) -> None:
        while True:
            try:
                await self.measure()
            except Exception as exc:  # noqa: BLE001 - a metrics failure must not stop a stage
                log.warning(
                    "consumer lag not measured", group=self.group_id, error=type(exc).__name__
                )
            await asyncio.sleep(interval_s or self.interval_s)


@asynccontextmanager
async def lag_monitor(
    kafka: Kafka, group_id: str, topics: Sequence[str], interval_s: float = 5.0
) -> AsyncIterator[ConsumerLagMonitor]:
    monitor = ConsumerLagMonitor(kafka, group_id, topics, interval_s)
    await monitor.start()
    try:
        yield monitor
    finally:
        await monitor.stop()


def monitor_lag(
    app: web.Application, kafka: KafkaSettings, group_id: str, topics: Sequence[str]
) -> None:
    """The one way a service exports its consumer group's lag: a monitor for the app's
    lifetime, polling every ``BLINDPOST_METRICS_LAG_INTERVAL_S``."""
    key = web.AppKey(f"lag:{group_id}", ConsumerLagMonitor)
    provide(app, key, lambda: lag_monitor(kafka, group_id, topics, kafka.lag_interval_s))
    run_background(app, f"consumer-lag:{group_id}", lambda: app[key].run())
