"""The faust app: one agent over the event log and its tables, recovered from their
changelog topics.

For each event (``counting.observe``): the ``messages`` table keeps each e-mail's sending
domain, provider and the kinds already counted for it (1-day tumbling windows looked up
over ``lookback_days``, so old messages are forgotten); what newly counts adds one to the
``hourly`` (1 h tumbling) and ``daily`` (24 h hopping, 1 h step) tables; a domain whose
24 h complaint level moves gets ``deliverability.complaint_rate_changed`` appended
(``levels.py``).

Processing is ``exactly_once``.  faust commits a record it sends in the transaction of the
record's *destination* partition, together with that partition's consumed offsets, so
only what is written to the partition being read commits atomically with its offset.
Hence no repartition topic: every table write goes to the changelog partition of the
event being processed (count keys name that partition, ``counting.table_key``), and
commits fall between records with all their writes delivered (``commits.py``), so a
SIGKILL neither loses nor double-counts an event.  The complaint event is the exception,
sent at least once with a stable id (``levels.py``).  Tables are in memory (no RocksDB)
and rebuilt from their changelogs (read committed) at start.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import faust
import mode
from faust.types import TopicT, WindowT
from faust.types.tables import WindowWrapperT
from mode.signals import BaseSignalT
from pydantic import ValidationError

from services.deliverability.commits import CommitBarrier
from services.deliverability.counting import Kind, Thresholds, observe, split_key, table_key
from services.deliverability.credentials import broker_credentials
from services.deliverability.levels import ComplaintLevels
from services.deliverability.settings import DeliverabilitySettings
from shared.events import Event, read_event
from shared.kafka import topics_ready
from shared.kafka_settings import KafkaSettings
from shared.logging import get_logger

log = get_logger(__name__)
STAGE = "deliverability"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass
class Deliverability:
    """The faust app and the tables the exporter reads."""

    app: faust.App
    hourly: WindowWrapperT
    daily: WindowWrapperT
    levels: ComplaintLevels
    internal_topics: list[TopicT]
    kafka: KafkaSettings

    async def declare_topics(self) -> None:
        """The changelogs, created (and given leaders) before the first subscription:
        faust declares them only as it subscribes, and a consumer that subscribed before
        a topic existed ignores it (no recovery) until the next rebalance."""
        producer = self.app.producer  # the plain one, also the transactions' base
        await producer.maybe_start()
        names = []
        for topic in self.internal_topics:
            for name in topic.topics:
                names.append(name)
                await producer.create_topic(
                    topic=name,
                    partitions=topic.partitions or self.app.conf.topic_partitions,
                    replication=topic.replicas or self.app.conf.topic_replication_factor,
                    config=topic.config,
                    compacting=topic.compacting,
                    deleting=topic.deleting,
                    retention=topic.retention,
                )
        await topics_ready(self.kafka, names)


def build(settings: DeliverabilitySettings, partitions: int) -> Deliverability:
    """``partitions``: the event log's; each changelog has as many, since a table's
    changelog partition is the partition of the record that changed it."""
    kafka = settings.kafka
    group = kafka.group(STAGE)
    app = faust.App(
        group,  # the consumer group, and the prefix of its changelog topics
        broker=[f"kafka://{server}" for server in kafka.bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(kafka),
        store="memory://",
        processing_guarantee="exactly_once",
        topic_partitions=partitions,
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=True,
        broker_commit_interval=settings.deliverability_commit_interval_s,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,  # health, readiness and metrics are the aiohttp app's
        autodiscover=False,
        datadir=tempfile.mkdtemp(prefix="blindpost-deliverability-"),
        table_cleanup_interval=60.0,
        # A worker that died (SIGKILL, OOM) holds its partitions until its session ends:
        # the replacement waits that long before it may take them over.
        broker_session_timeout=settings.deliverability_session_timeout_s,
        broker_heartbeat_interval=settings.deliverability_session_timeout_s / 4,
        # An agent that raises stops the app (and so the process: ``app.py``) instead of
        # being restarted in place past the record it failed on.
        agent_supervisor=mode.CrashingSupervisor,
    )
    # faust uses its transactional producers only "in a worker": this process is one.
    app.in_worker = True
    barrier = CommitBarrier(timeout_s=30.0)
    barrier.install(app)
    events = app.topic(kafka.topics.message_events, key_serializer="raw", value_serializer="raw")
    lookback = settings.deliverability_lookback_days
    messages = (
        app.Table("messages", default=None)
        .tumbling(DAY, expires=DAY * lookback)
        .relative_to_stream()
    )
    hourly = app.Table("hourly", default=int).tumbling(HOUR, expires=HOUR * 2).relative_to_stream()
    daily = (
        app.Table("daily", default=int).hopping(DAY, HOUR, expires=DAY + HOUR).relative_to_stream()
    )

    def message_state(key: str, timestamp: float) -> Any:
        table, window = messages.table, window_of(messages)
        for day in range(lookback + 1):
            found = table.get((key, window.current(timestamp - day * DAY.total_seconds())))
            if found is not None:
                return found
        return None

    async def append(event: Event) -> None:
        # The plain producer: sent and acknowledged now, not at the transaction's commit.
        await app.producer.send_and_wait(
            events.get_topic_name(), event.key, event.to_bytes(), None, None, None
        )

    totals = DailyTotals(daily, partitions)
    levels = ComplaintLevels(
        Thresholds(
            settings.deliverability_complaint_threshold,
            settings.deliverability_complaint_warning,
            settings.deliverability_min_sent,
        ),
        totals.complaints_and_sent,
        append,
    )

    @app.agent(events)
    async def count(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            async with barrier.record():  # no commit inside a record (commits.py)
                await count_one(event)

    async def count_one(event: faust.EventT[bytes]) -> None:
        try:
            read = read_event(event.value, STAGE)
        except ValidationError:
            log.warning("not an event; passed by", stage=STAGE)
            return
        if read is None:
            return
        key = str(read.ext_message_id)
        timestamp = event.message.timestamp
        state, counts = observe(message_state(key, timestamp), read)
        if counts is not None:
            domain, partition = counts.sending_domain, event.message.partition
            if counts.kind in ("sent", "complaint"):
                await levels.counting(domain, counts.kind, timestamp)
        if state is not None:
            messages[key] = state
        if counts is not None:
            totals.providers(domain).add(counts.provider)
            hourly[counts.key(partition)] += 1
            daily[counts.key(partition)] += 1

    @app.on_rebalance_complete.connect
    def forget_levels(_app: Any, /, *_args: Any, signal: BaseSignalT[Any], **_kwargs: Any) -> None:
        levels.forget()
        totals.forget()

    changelogs = [table.changelog_topic for table in app.tables.values()]
    # faust's own topic for electing a leader among workers: declared late like the rest.
    leader: TopicT = app._leader_assignor._leader_topic  # type: ignore[attr-defined] # noqa: SLF001
    return Deliverability(app, hourly, daily, levels, [leader, *changelogs], kafka)


class DailyTotals:
    """A domain's counts over the 24 h window ending with the hour of a moment, summed
    over its providers and the partitions this worker holds: direct lookups, with each
    domain's providers found by one scan of the table when first asked for."""

    def __init__(self, daily: WindowWrapperT, partitions: int) -> None:
        self.daily = daily
        self.partitions = partitions
        self.known: dict[str, set[str]] = {}

    def providers(self, domain: str) -> set[str]:
        if domain not in self.known:
            keys = {key for key, _window in list(self.daily.table.data.keys())}
            self.known[domain] = {split_key(k)[1] for k in keys if split_key(k)[0] == domain}
        return self.known[domain]

    def count(self, domain: str, kind: Kind, timestamp: float) -> int:
        window = window_of(self.daily).earliest(timestamp)
        return sum(
            int(self.daily.table.get((table_key(domain, provider, kind, p), window), 0))
            for provider in self.providers(domain)
            for p in range(self.partitions)
        )

    def complaints_and_sent(self, domain: str, timestamp: float) -> tuple[int, int]:
        return self.count(domain, "complaint", timestamp), self.count(domain, "sent", timestamp)

    def forget(self) -> None:
        self.known.clear()


def window_of(table: WindowWrapperT) -> WindowT:
    window = table.table.window
    assert window is not None  # a windowed table's
    return window
