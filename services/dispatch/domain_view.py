"""The e-mail dispatcher following its sending domains' complaint levels on the event log
(with ``BLINDPOST_DISPATCH_EMAIL_PARK_ON_COMPLAINTS``): a ``critical`` level parks the
domain, an operator's ``deliverability.domain_resumed`` resumes it (``parked_domains.py``).

Only ``critical`` parks; ``warning`` alerts and parks nothing, and a level that falls
again resumes nothing: the operator decides, with ``blindpost deliverability resume``.
A domain's events share its stream's key, so they are read in the order written.  The
position lives in the database with the changes (``SeekToStoredPositions``): a restart or a
rebalance resumes exactly where they left off, and the first start reads the log from its
beginning, so a domain parked before the setting was turned on is parked too.
"""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.dispatch.parked_domains import Change, Parked, ParkedDomains, Resumed
from shared.events import (
    DeliverabilityComplaintRateChanged,
    DeliverabilityDomainResumed,
    Event,
    SkipReason,
    count_skipped,
    read_event,
)
from shared.kafka import Consumption, SeekToStoredPositions, commit_for_lag, next_offsets
from shared.logging import get_logger

log = get_logger(__name__)
RETRY_ON = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, KafkaError)
# Event.to_bytes() writes event_id then type first: a look at the head of a record passes
# by the message events, nearly all of the log, without parsing them.
_DOMAIN_EVENT = b'"type":"deliverability.'
_PEEK = 120


def change_of(event: Event) -> Change | None:
    """What an event does to the parked domains, if anything."""
    p = event.payload
    if isinstance(p, DeliverabilityComplaintRateChanged) and p.level == "critical":
        return Parked(p.sending_domain.lower(), event.event_id, p.complaints, p.sent, p.ratio)
    if isinstance(p, DeliverabilityDomainResumed):
        return Resumed(p.sending_domain.lower())
    return None


class DomainView:
    def __init__(
        self, consumer: AIOKafkaConsumer, domains: ParkedDomains, topic: str, stage: str
    ) -> None:
        self.consumer = consumer
        self.domains = domains
        self.topic = topic
        self.stage = stage

    def subscribe(self) -> None:
        listener = SeekToStoredPositions(
            self.consumer, self.domains.positions, stage=self.stage, retry_on=RETRY_ON
        )
        self.consumer.subscribe([self.topic], listener=listener)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        await Consumption(self.consumer, self.batch, stage=self.stage, retry_on=RETRY_ON).run(stop)

    async def batch(self, records: list[ConsumerRecord]) -> None:
        """One partition's records."""
        changes: list[tuple[int, Change]] = []
        for record in records:
            if _DOMAIN_EVENT not in (record.value or b"")[:_PEEK]:
                continue
            try:
                event = read_event(record.value, self.stage)
            except Exception as exc:  # noqa: BLE001 - poison: the projector dead-letters it
                log.warning(
                    "unreadable domain event skipped",
                    stage=self.stage,
                    offset=record.offset,
                    error=type(exc).__name__,
                )
                continue
            change = change_of(event) if event else None
            if change is None:
                count_skipped(self.stage, SkipReason.NOT_HANDLED)
                continue
            changes.append((record.offset, change))
        first = records[0]
        tp = TopicPartition(first.topic, first.partition)
        await self.domains.apply(tp, changes, records[-1].offset + 1)
        for _offset, change in changes:
            log.info(
                "sending domain parked" if isinstance(change, Parked) else "sending domain resumed",
                stage=self.stage,
                sending_domain=change.sending_domain,
            )
        await commit_for_lag(self.consumer, next_offsets(records))
