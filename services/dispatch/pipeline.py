"""The path every dispatcher runs a batch of work along: parse, claim it in the ledger,
deliver each claimed message through the channel's provider, and append every attempt and
outcome to the event log.

Ordering that makes crashes harmless:

1. claim the batch in the ledger ('sending', with a lease) — only a first claim sends;
   a claim whose sending domain is parked for complaints is parked instead, its
   ``dispatch.parked`` acknowledged with the rest (``domain_hold.py``);
2. per message: ``DispatchAttempted`` produced and acknowledged, then the provider call;
3. the outcome: ledger updated (sent / failed / parked) and the outcome event produced;
4. only when all of that is acknowledged, the consumed offsets are committed
   (``consumer.py``: :meth:`Dispatcher.process` returns only then).

A message found in the ledger is never sent by the consumer: if settled, its outcome event
is produced again (same event id, so the log stores it once); if unsettled, the sweeper
owns it.  The sweeper (``sweeper.py``) takes parked retries when due, and 'sending' rows
whose lease ran out (a dispatcher died mid-call): the outcome is unknown, so it resends
only where the provider recognises a resend (an idempotency key), unless configured to
accept duplicates.
"""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import ConsumerRecord

from services.dispatch.content import ContentOpener
from services.dispatch.delivery import Delivery, Route
from services.dispatch.domain_hold import Candidate, DomainHold
from services.dispatch.event_log import Ack, Attempt, EventLog
from services.dispatch.ledger import Claim, Ledger, LedgerRow
from services.dispatch.metrics import DUPLICATES
from services.dispatch.parked_domains import ParkedDomains
from services.dispatch.settings import DispatchSettings
from shared.domain import Channel
from shared.kafka import RecoveringProducer
from shared.logging import get_logger
from shared.sealing import SealingKeyring
from shared.topics import Topics
from shared.work import DispatchWork

log = get_logger(__name__)


class WrongChannel(ValueError):
    """A work item for a channel this dispatcher does not send."""

    def __init__(self, work: DispatchWork, topic: Channel) -> None:
        super().__init__(f"channel {work.channel.value} on the {topic.value} topic")
        self.channel = work.channel


class Dispatcher:
    def __init__(
        self,
        *,
        channel: Channel,
        settings: DispatchSettings,
        keyring: SealingKeyring,
        contents: ContentOpener,
        routes: dict[Channel, Route],
        ledger: Ledger,
        producer: RecoveringProducer,
        topics: Topics,
        batch_size: int | None = None,
        parked_domains: ParkedDomains | None = None,
    ) -> None:
        self.channel = channel
        self.settings = settings
        self.routes = routes
        self.ledger = ledger
        self.name = f"dispatch-{channel.value}"
        self.batch_size = batch_size or settings.dispatch_max_batch
        # A claimed batch may wait on a rate limit before its last call: the lease covers it.
        rates = [r.guard.limiter.rate for r in routes.values() if r.guard.limiter.rate > 0]
        self.lease_s = settings.lease_s + (self.batch_size / min(rates) if rates else 0.0)
        self.policy = settings.retry_policy()
        self.events = EventLog(producer, topics, self.name, settings.dispatch_instance)
        self.delivery = Delivery(
            name=self.name,
            family=channel.family.value,
            keyring=keyring,
            contents=contents,
            routes=routes,
            ledger=ledger,
            events=self.events,
            policy=self.policy,
            send_timeout_s=settings.dispatch_send_timeout_s,
            lease_s=self.lease_s,
            sending_domain=settings.sending_domain,
        )
        # With parked_domains (e-mail, BLINDPOST_DISPATCH_EMAIL_PARK_ON_COMPLAINTS): a
        # parked sending domain's mail is held instead of sent (domain_hold.py).
        self.holds: DomainHold | None = None
        if parked_domains is not None:
            self.holds = DomainHold(
                parked_domains,
                self.events,
                settings.sending_domain,
                lambda work: routes[work.channel].provider.name,
                channel.family.value,
                self.name,
            )
        # Messages being delivered by this process: the sweeper leaves them alone.
        self.in_flight: set[uuid.UUID] = set()

    def parse(self, record: ConsumerRecord) -> DispatchWork:
        work = DispatchWork.from_bytes(record.value or b"")
        if work.channel not in self.routes:
            raise WrongChannel(work, self.channel)
        return work

    async def process(self, records: list[ConsumerRecord]) -> None:
        """Everything the batch causes, acknowledged, before its offsets may be committed."""
        pending: list[Ack] = []
        works: dict[uuid.UUID, DispatchWork] = {}
        for record in records:
            try:
                work = self.parse(record)
            except WrongChannel as wrong:
                # Written to this topic before each channel had its own (a resolver from
                # before the split, during a rolling upgrade): handed to its dispatcher.
                pending.append(await self.events.forward(record, wrong.channel))
                continue
            except Exception as exc:  # noqa: BLE001 - any parse failure is a poison record
                pending.append(await self.events.dead_letter(record, exc))
                continue
            if work.ext_message_id in works or work.ext_message_id in self.in_flight:
                DUPLICATES.labels(self.channel.value, "in_batch").inc()
                continue
            works[work.ext_message_id] = work
        await self.delivery.contents.prefetch(works.values())
        claims = [
            Claim(
                w.ext_message_id,
                w.channel.value,
                self.routes[w.channel].provider.name,
                w.to_bytes(),
            )
            for w in works.values()
        ]
        claimed, known = await self.ledger.claim(claims, self.lease_s)
        for row in known:
            pending.extend(await self._settle_known(row, works[row.ext_message_id]))
        held, announced = await self.hold([Candidate(works[mid], attempt=0) for mid in claimed])
        pending.extend(announced)
        sending = claimed - held
        tasks = [
            asyncio.create_task(self.delivery.deliver(works[mid], attempt=1)) for mid in sending
        ]
        self.in_flight.update(sending)
        try:
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, BaseException):
                    raise result
                pending.extend(result)
        finally:
            self.in_flight.difference_update(sending)
        for future in pending:
            await future

    async def hold(self, candidates: list[Candidate]) -> tuple[set[uuid.UUID], list[Ack]]:
        """Those of ``candidates`` held for their parked sending domain (none when off)."""
        if self.holds is None:
            return set(), []
        return await self.holds.hold(candidates)

    async def _settle_known(self, row: LedgerRow, work: DispatchWork) -> list[Ack]:
        DUPLICATES.labels(self.channel.value, row.state).inc()
        log.info(
            "work item already in the ledger; not sent again",
            stage=self.name,
            ext_message_id=str(row.ext_message_id),
            ledger_state=row.state,
        )
        attempt = Attempt(row.ext_message_id, Channel(row.channel), row.provider, row.attempt)
        if row.state == "sent":
            ack = await self.events.dispatched(
                attempt, row.provider_message_id, row.segments, self.settings.sending_domain(work)
            )
            return [ack]
        if row.state == "failed":
            reason = row.reason or "failed"
            ack = await self.events.failed(attempt, reason, retryable=False)
            return [ack]
        return []  # 'sending' or 'parked': the sweeper owns it
