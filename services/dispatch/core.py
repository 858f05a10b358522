"""The loop every dispatcher runs: consume work, claim it in the ledger, send it through
the channel's provider under that provider's guard, and append every attempt and outcome
to the event log.

Ordering that makes crashes harmless:

1. claim the batch in the ledger ('sending', with a lease) — only a first claim sends;
2. per message: ``DispatchAttempted`` produced and acknowledged, then the provider call;
3. the outcome: ledger updated (sent / failed / parked) and the outcome event produced;
4. only when all of that is acknowledged, the consumed offsets are committed.

A message found in the ledger is never sent by the consumer: if settled, its outcome event
is produced again (same event id, so the log stores it once); if unsettled, the sweeper
owns it.  The sweeper takes parked retries when due, and 'sending' rows whose lease ran out
(a dispatcher died mid-call): the outcome is unknown, so it resends only where the provider
recognises a resend (an idempotency key), unless configured to accept duplicates.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from services.dispatch import metrics
from services.dispatch.guard import ProviderGuard
from services.dispatch.ledger import Claim, Ledger, LedgerRow, SentMarker
from services.dispatch.metrics import DUPLICATES, OUTCOMES, PARKED, SMS_SEGMENTS
from services.dispatch.outcomes import ProviderFailure, Sent, TransientFailure, transport_failure
from services.dispatch.providers import Outbound, Provider
from services.dispatch.segments import encoding_of
from services.dispatch.settings import DispatchSettings
from shared.domain import Channel, ChannelFamily
from shared.events import AnyPayload, DispatchAttempted, DispatchFailed, DispatchSucceeded, Event
from shared.kafka import Backoff, dead_letter_output
from shared.logging import get_logger
from shared.sealing import SealingError, SealingKeyring
from shared.topics import Topics
from shared.work import DispatchWork

log = get_logger(__name__)


@dataclass(frozen=True)
class Route:
    provider: Provider
    guard: ProviderGuard


RETRYABLE_ERRORS = (
    OSError,
    TimeoutError,
    KafkaError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


PIPELINE_DEPTH = 2
Batch = dict[TopicPartition, list[ConsumerRecord]]


class WrongFamily(ValueError):
    """A work item for a channel this dispatcher does not send."""


class Dispatcher:
    def __init__(
        self,
        *,
        family: ChannelFamily,
        settings: DispatchSettings,
        keyring: SealingKeyring,
        routes: dict[Channel, Route],
        ledger: Ledger,
        producer: AIOKafkaProducer,
        topics: Topics,
        batch_size: int | None = None,
    ) -> None:
        self.family = family
        self.settings = settings
        self.keyring = keyring
        self.routes = routes
        self.ledger = ledger
        self.producer = producer
        self.topics = topics
        self.marker = SentMarker(ledger)
        self.name = f"dispatch-{family.value}"
        self.group_id = topics.group(f"dispatch-{family.value}")
        self.batch_size = batch_size or settings.dispatch_max_batch
        # A claimed batch may wait on a rate limit before its last call: the lease covers it.
        rates = [r.guard.limiter.rate for r in routes.values() if r.guard.limiter.rate > 0]
        self.lease_s = settings.lease_s + (self.batch_size / min(rates) if rates else 0.0)
        self._inflight: set[uuid.UUID] = set()

    # -- consuming ----------------------------------------------------------------------

    def parse(self, record: ConsumerRecord) -> DispatchWork:
        work = DispatchWork.from_bytes(record.value or b"")
        if work.channel not in self.routes:
            raise WrongFamily(f"channel {work.channel.value} on the {self.family.value} topic")
        return work

    async def run_consumer(self, consumer: AIOKafkaConsumer) -> None:
        """Two batches in flight: the next one is parsed and claimed while the last calls of
        the previous one finish, so the provider connections do not idle at each batch's
        edge.  Offsets are committed strictly in batch order."""
        backoff = Backoff(initial_s=0.5, maximum_s=30.0)
        in_flight: deque[tuple[Batch, asyncio.Task[None]]] = deque()
        while True:
            if len(in_flight) < PIPELINE_DEPTH:
                batch = await consumer.getmany(
                    timeout_ms=20 if in_flight else 500, max_records=self.batch_size
                )
                records = [r for rs in batch.values() for r in rs]
                if records:
                    in_flight.append((batch, asyncio.create_task(self.process(records))))
            if not in_flight:
                continue
            oldest, task = in_flight[0]
            if not task.done() and len(in_flight) < PIPELINE_DEPTH:
                continue
            try:
                await task
            except RETRYABLE_ERRORS as exc:
                # The ledger or the event log is unreachable: consume these batches again
                # later; the ledger makes the second pass send only what the first did not.
                await asyncio.gather(*(t for _b, t in in_flight), return_exceptions=True)
                first: dict[TopicPartition, int] = {}
                for batch, _t in in_flight:
                    for tp, rs in batch.items():
                        if rs and tp not in first:
                            first[tp] = rs[0].offset
                in_flight.clear()
                for tp, offset in first.items():
                    consumer.seek(tp, offset)
                delay = backoff.next_delay()
                log.warning(
                    "dispatch batch failed, will retry",
                    stage=self.name,
                    error=type(exc).__name__,
                    retry_in_s=round(delay, 2),
                )
                await asyncio.sleep(delay)
                continue
            in_flight.popleft()
            backoff.reset()
            try:
                await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in oldest.items() if rs})
            except CommitFailedError:
                # Rebalanced away: the new owner redelivers and the ledger settles it.
                log.warning("offsets not committed after a rebalance", stage=self.name)

    async def process(self, records: list[ConsumerRecord]) -> None:
        """Everything the batch causes, acknowledged, before its offsets may be committed."""
        pending: list[asyncio.Future[object]] = []
        works: dict[uuid.UUID, DispatchWork] = {}
        for record in records:
            try:
                work = self.parse(record)
            except Exception as exc:  # noqa: BLE001 - any parse failure is a poison record
                out = dead_letter_output(self.topics.dead_letter, self.name, record, _reason(exc))
                pending.append(
                    await self.producer.send(
                        out.topic, out.value, key=out.key, headers=list(out.headers)
                    )
                )
                continue
            if work.ext_message_id in works or work.ext_message_id in self._inflight:
                DUPLICATES.labels(self.family.value, "in_batch").inc()
                continue
            works[work.ext_message_id] = work
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
        tasks = [asyncio.create_task(self._deliver(works[mid], attempt=1)) for mid in claimed]
        self._inflight.update(claimed)
        try:
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, BaseException):
                    raise result
                pending.extend(result)
        finally:
            self._inflight.difference_update(claimed)
        for future in pending:
            await future

    async def _settle_known(
        self, row: LedgerRow, work: DispatchWork
    ) -> list[asyncio.Future[object]]:
        DUPLICATES.labels(self.family.value, row.state).inc()
        log.info(
            "work item already in the ledger; not sent again",
            stage=self.name,
            ext_message_id=str(row.ext_message_id),
            ledger_state=row.state,
        )
        channel = Channel(row.channel)
        if row.state == "sent":
            payload: AnyPayload = DispatchSucceeded(
                channel=channel,
                provider=row.provider,
                attempt=row.attempt,
                provider_message_id=row.provider_message_id,
                segments=row.segments,
            )
            return [await self._emit(work.ext_message_id, payload, (row.attempt,))]
        if row.state == "failed":
            reason = row.reason or "failed"
            payload = DispatchFailed(
                channel=channel,
                provider=row.provider,
                attempt=row.attempt,
                retryable=False,
                reason=reason,
            )
            return [await self._emit(work.ext_message_id, payload, (row.attempt, reason))]
        return []  # 'sending' or 'parked': the sweeper owns it

    # -- one message ----------------------------------------------------------------------

    async def _deliver(self, work: DispatchWork, attempt: int) -> list[asyncio.Future[object]]:
        """Attempts from ``attempt`` on (the row is claimed); returns the outcome futures."""
        route = self.routes[work.channel]
        provider, guard = route.provider, route.guard
        pending: list[asyncio.Future[object]] = []
        outbound: Outbound | None = None
        inline_left = self.settings.dispatch_inline_retries
        while True:
            if self._expired(work):
                pending.append(await self._fail(work, provider.name, attempt, "expired"))
                return pending
            if not guard.breaker.allow():
                await self._park(work, attempt - 1, guard.breaker.retry_in() + 0.5, "circuit_open")
                return pending
            if outbound is None:
                try:
                    recipient = self.keyring.open(work.sealed_recipient, work.sealing_context())
                    outbound = self._outbound(work, recipient.decode(), attempt)
                except (SealingError, UnicodeDecodeError):
                    pending.append(
                        await self._fail(work, provider.name, attempt, "recipient_unsealable")
                    )
                    return pending
            outbound = replace(outbound, attempt=attempt)
            try:
                sent = await self._call(work, provider, guard, outbound)
            except ProviderFailure as failure:
                if not failure.retryable:
                    guard.breaker.record_neutral()
                    pending.append(await self._fail(work, provider.name, attempt, failure.reason))
                    return pending
                guard.breaker.record_transient_failure()
                if attempt >= self.settings.dispatch_max_attempts:
                    pending.append(
                        await self._fail(
                            work, provider.name, attempt, f"retries_exhausted:{failure.reason}"
                        )
                    )
                    return pending
                await (
                    await self._emit(
                        work.ext_message_id,
                        DispatchFailed(
                            channel=work.channel,
                            provider=provider.name,
                            attempt=attempt,
                            retryable=True,
                            reason=failure.reason,
                        ),
                        (attempt, failure.reason),
                    )
                )
                OUTCOMES.labels(
                    self.family.value, work.channel.value, provider.name, "retry", failure.reason
                ).inc()
                if inline_left > 0:
                    inline_left -= 1
                    await asyncio.sleep(
                        self.settings.dispatch_inline_backoff_s * random.uniform(0.5, 1.5)
                    )
                    attempt += 1
                    await self.ledger.next_attempt(work.ext_message_id, attempt, self.lease_s)
                    continue
                await self._park(work, attempt, self._park_delay(attempt), failure.reason)
                return pending
            guard.breaker.record_success()
            metrics.sent(self.family.value, work.channel.value, provider.name).inc()
            if sent.segments:
                SMS_SEGMENTS.labels(work.channel.value, encoding_of(work.content.body or "")).inc(
                    sent.segments
                )
            # Recorded before the event is produced: a DispatchSucceeded event in the log means the
            # ledger says 'sent', so that message is never sent again.
            await self.marker.mark(
                work.ext_message_id, attempt, sent.provider_message_id, sent.segments
            )
            pending.append(
                await self._emit(
                    work.ext_message_id,
                    DispatchSucceeded(
                        channel=work.channel,
                        provider=provider.name,
                        attempt=attempt,
                        provider_message_id=sent.provider_message_id,
                        segments=sent.segments,
                    ),
                    (attempt,),
                )
            )
            return pending

    async def _call(
        self, work: DispatchWork, provider: Provider, guard: ProviderGuard, outbound: Outbound
    ) -> Sent:
        async with guard.concurrency:
            await guard.limiter.acquire()
            # Acknowledged before the call: the log shows the attempt even if we die in it.
            await (
                await self._emit(
                    work.ext_message_id,
                    DispatchAttempted(
                        channel=work.channel, provider=provider.name, attempt=outbound.attempt
                    ),
                    (outbound.attempt,),
                )
            )
            metrics.attempts(self.family.value, work.channel.value, provider.name).inc()
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.settings.dispatch_send_timeout_s):
                    return await provider.send(outbound)
            except ProviderFailure:
                raise
            except Exception as exc:  # noqa: BLE001 - classed, and its text never logged
                failure = transport_failure(exc)
                if failure is None:
                    log.error(
                        "provider adapter raised",
                        stage=self.name,
                        provider=provider.name,
                        ext_message_id=str(work.ext_message_id),
                        error=type(exc).__name__,
                    )
                    failure = TransientFailure("unexpected_error")
                raise failure from None
            finally:
                metrics.send_seconds(self.family.value, provider.name).observe(
                    time.perf_counter() - started
                )

    def _outbound(self, work: DispatchWork, recipient: str, attempt: int) -> Outbound:
        return Outbound(
            work.ext_message_id,
            work.channel,
            work.ext_user_id,
            work.uid,
            recipient,
            work.content,
            attempt,
        )

    def _expired(self, work: DispatchWork) -> bool:
        accepted = (
            work.accepted_at if work.accepted_at.tzinfo else work.accepted_at.replace(tzinfo=UTC)
        )
        age = (datetime.now(UTC) - accepted).total_seconds()
        return age > self.settings.dispatch_max_age_s

    def _park_delay(self, attempt: int) -> float:
        base = self.settings.dispatch_park_initial_s * (2 ** max(0, attempt - 1))
        return min(self.settings.dispatch_park_max_s, base) * random.uniform(0.8, 1.2)

    async def _park(self, work: DispatchWork, attempt: int, delay_s: float, reason: str) -> None:
        # attempt is the last one made (0: none yet); the sweeper continues from attempt + 1.
        await self.ledger.park(work.ext_message_id, max(attempt, 0), delay_s, reason)
        PARKED.labels(self.family.value, reason).inc()
        log.info(
            "dispatch parked for a later retry",
            stage=self.name,
            ext_message_id=str(work.ext_message_id),
            reason=reason,
            retry_in_s=round(delay_s, 1),
        )

    async def _fail(
        self, work: DispatchWork, provider: str, attempt: int, reason: str
    ) -> asyncio.Future[object]:
        await self.ledger.mark_failed(work.ext_message_id, attempt, reason)
        OUTCOMES.labels(
            self.family.value, work.channel.value, provider, "failed", reason.split(":")[0]
        ).inc()
        log.warning(
            "dispatch failed",
            stage=self.name,
            ext_message_id=str(work.ext_message_id),
            channel=work.channel.value,
            provider=provider,
            attempt=attempt,
            reason=reason,
        )
        return await self._emit(
            work.ext_message_id,
            DispatchFailed(
                channel=work.channel,
                provider=provider,
                attempt=attempt,
                retryable=False,
                reason=reason,
            ),
            (attempt, reason),
        )

    async def _emit(
        self, ext_message_id: uuid.UUID, payload: AnyPayload, discriminator: tuple[object, ...]
    ) -> asyncio.Future[object]:
        event = Event.create(ext_message_id, payload, self.name, discriminator=discriminator)
        return await self.producer.send(self.topics.message_events, event.to_bytes(), key=event.key)

    # -- the sweeper -------------------------------------------------------------------------

    async def run_sweeper(self) -> None:
        while True:
            try:
                done = await self.sweep_once()
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                log.warning("ledger sweep failed", stage=self.name, error=type(exc).__name__)
                done = 0
            if not done:
                await asyncio.sleep(self.settings.dispatch_sweep_interval_s)

    async def sweep_once(self, limit: int = 100) -> int:
        rows = [
            r
            for r in await self.ledger.take_due(limit, self.lease_s)
            if r.ext_message_id not in self._inflight
        ]
        results = await asyncio.gather(*(self._resume(row) for row in rows), return_exceptions=True)
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                log.warning(
                    "retry from the ledger failed; it stays due",
                    stage=self.name,
                    ext_message_id=str(row.ext_message_id),
                    error=type(result).__name__,
                )
        return len(rows)

    async def _resume(self, row: LedgerRow) -> None:
        if row.work is None:
            return
        work = DispatchWork.from_bytes(row.work)
        route = self.routes.get(work.channel)
        if route is None:
            return
        self._inflight.add(row.ext_message_id)
        try:
            if row.state == "sending":
                unknown_ok = self._resend_unknown(route.provider)
                log.warning(
                    "a send's outcome is unknown (the dispatcher stopped mid-call)",
                    stage=self.name,
                    ext_message_id=str(row.ext_message_id),
                    provider=route.provider.name,
                    resend=unknown_ok,
                )
                if not unknown_ok:
                    await (
                        await self._fail(
                            work, route.provider.name, max(row.attempt, 1), "outcome_unknown"
                        )
                    )
                    return
            attempt = row.attempt + 1
            await self.ledger.next_attempt(row.ext_message_id, attempt, self.lease_s)
            for future in await self._deliver(work, attempt):
                await future
        finally:
            self._inflight.discard(row.ext_message_id)

    def _resend_unknown(self, provider: Provider) -> bool:
        policy = self.settings.dispatch_unknown_outcome
        if provider.redelivery == "idempotency_key" or policy == "resend":
            return True
        return policy == "auto" and provider.redelivery == "message_id"


def _reason(exc: Exception) -> str:
    """A failure class for the dead-letter headers; pydantic names fields, never values."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        fields = sorted({".".join(map(str, e["loc"])) for e in errors()})
        return f"{type(exc).__name__}: invalid {', '.join(fields)}"
    return type(exc).__name__
