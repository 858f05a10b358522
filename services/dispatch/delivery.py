"""Delivering one claimed message: the attempts ``delivery_steps`` calls for, each through
the channel's provider under that provider's guard, with every attempt and outcome in the
event log and the ledger (the ordering that makes a crash harmless: ``pipeline.py``)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from services.dispatch import metrics
from services.dispatch.content import ContentErased, ContentOpener
from services.dispatch.delivery_steps import (
    Budget,
    Done,
    Fail,
    Park,
    RetryInline,
    RetryPolicy,
    circuit_open,
    next_step,
)
from services.dispatch.event_log import Ack, Attempt, EventLog
from services.dispatch.failover import Failover
from services.dispatch.guard import ProviderGuard
from services.dispatch.ledger import BatchedWrites, Ledger
from services.dispatch.metrics import FAILOVERS, OUTCOMES, PARKED, SMS_SEGMENTS
from services.dispatch.outcomes import (
    ProviderFailure,
    Sent,
    TransientFailure,
    may_have_been_taken,
    transport_failure,
)
from services.dispatch.providers import Outbound, Provider
from services.dispatch.segments import encoding_of
from shared.content_sealing import ContentSealingError
from shared.domain import Channel
from shared.events import MessageContent
from shared.latency import DISPATCHED, PROVIDER_ACCEPTED, observe_step
from shared.logging import get_logger
from shared.sealing import SealingError, SealingKeyring
from shared.work import DispatchWork

log = get_logger(__name__)


@dataclass(frozen=True)
class Route:
    provider: Provider
    guard: ProviderGuard
    # The channel's next providers, in order, for failover (``failover.py``).
    fallbacks: tuple[Route, ...] = ()

    def candidates(self) -> list[Route]:
        return [self, *self.fallbacks]


class Delivery:
    def __init__(
        self,
        *,
        name: str,
        family: str,
        keyring: SealingKeyring,
        contents: ContentOpener,
        routes: dict[Channel, Route],
        ledger: Ledger,
        events: EventLog,
        policy: RetryPolicy,
        send_timeout_s: float,
        lease_s: float,
        sending_domain: Callable[[DispatchWork], str | None],
    ) -> None:
        self.name = name
        self.family = family
        self.keyring = keyring
        self.contents = contents
        self.routes = routes
        self.ledger = ledger
        self.sends = BatchedWrites(ledger.mark_sent)
        self.calls = BatchedWrites(ledger.mark_called)
        self.events = events
        self.policy = policy
        self.send_timeout_s = send_timeout_s
        self.lease_s = lease_s
        self.sending_domain = sending_domain

    async def deliver(
        self, work: DispatchWork, attempt: int, pinned_to: str | None = None
    ) -> list[Ack]:
        """Attempts from ``attempt`` on (the row is claimed), through the channel's providers
        in order (``failover.py``; only ``pinned_to`` if given); returns the outcome futures."""
        failover = Failover(self.routes[work.channel].candidates(), pinned_to)
        route = failover.route
        budget = Budget.fresh(self.policy)
        outbound: Outbound | None = None
        allowed = False  # the breaker already let this call through (a probe is taken once)
        while True:
            provider, guard = route.provider, route.guard
            if self.policy.expired(_age_s(work)):
                return [await self.fail(work, provider.name, attempt, "expired")]
            if not (allowed or guard.breaker.allow()):
                if (following := failover.next_open()) is None:
                    await self._park(work, circuit_open(attempt, guard.breaker.retry_in()))
                    return []
                route, allowed = following, True
                await self._switch(work, attempt, following)
                continue
            allowed = False
            if outbound is None:
                try:
                    recipient = self.keyring.open(work.sealed_recipient, work.sealing_context())
                    content = await self.contents.open(work)
                    outbound = _outbound(work, recipient.decode(), content, attempt)
                except ContentErased:
                    return [await self.fail(work, provider.name, attempt, "content_erased")]
                except ContentSealingError:
                    return [await self.fail(work, provider.name, attempt, "content_unsealable")]
                except (SealingError, UnicodeDecodeError):
                    return [await self.fail(work, provider.name, attempt, "recipient_unsealable")]
            outbound = replace(outbound, attempt=attempt)
            outcome: Sent | ProviderFailure
            try:
                outcome = await self._call(work, route, outbound)
            except ProviderFailure as failure:
                outcome = failure
            _record(guard, outcome)
            step = next_step(outcome, attempt, budget, random.random())
            if isinstance(step, Done) and isinstance(outcome, Sent):
                body = outbound.content.body or ""
                return [await self._sent(work, provider.name, attempt, outcome, body)]
            if isinstance(step, Fail):
                return [await self.fail(work, provider.name, attempt, step.reason)]
            assert isinstance(outcome, ProviderFailure)  # only a transient one goes on
            await self._retrying(work, provider.name, attempt, outcome.reason)
            if may_have_been_taken(outcome):
                if failover.pin():  # kept in the ledger, for the sweeper after a crash
                    await self.ledger.next_attempt(
                        work.ext_message_id, attempt, self.lease_s, pinned=True
                    )
            elif (following := failover.next_open()) is not None:
                route, allowed, attempt = following, True, attempt + 1
                await self._switch(work, attempt, following)
                continue  # no back-off: another provider
            if isinstance(step, RetryInline):
                await asyncio.sleep(step.delay_s)
                budget = step.budget
                attempt += 1
                await self.ledger.next_attempt(work.ext_message_id, attempt, self.lease_s)
                continue
            assert isinstance(step, Park)
            await self._park(work, step)
            return []

    async def _switch(self, work: DispatchWork, attempt: int, route: Route) -> None:
        """Recorded before the call: a crash in it leaves the provider that may have it."""
        FAILOVERS.labels(work.channel.value, route.provider.name).inc()
        await self.ledger.next_attempt(
            work.ext_message_id, attempt, self.lease_s, route.provider.name
        )

    async def _call(self, work: DispatchWork, route: Route, outbound: Outbound) -> Sent:
        provider, guard = route.provider, route.guard
        async with guard.concurrency:
            await guard.limiter.acquire()
            # Acknowledged before the call: the log shows the attempt even if we die in it,
            # and the ledger that the call began (so a crash in it is an unknown outcome).
            attempted = await self.events.attempted(
                Attempt(work.ext_message_id, work.channel, provider.name, outbound.attempt)
            )
            await asyncio.gather(attempted, self.calls.add((work.ext_message_id, outbound.attempt)))
            metrics.attempts(self.family, work.channel.value, provider.name).inc()
            if outbound.attempt == 1:
                observe_step(DISPATCHED, self.family, "attempted", work.accepted_at)
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.send_timeout_s):
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
                metrics.send_seconds(self.family, provider.name).observe(
                    time.perf_counter() - started
                )

    async def _sent(
        self, work: DispatchWork, provider: str, attempt: int, sent: Sent, body: str
    ) -> Ack:
        metrics.sent(self.family, work.channel.value, provider).inc()
        observe_step(PROVIDER_ACCEPTED, self.family, "sent", work.accepted_at)
        if sent.segments:
            SMS_SEGMENTS.labels(work.channel.value, encoding_of(body)).inc(sent.segments)
        # Recorded before the event is produced: a Dispatched event in the log means the
        # ledger says 'sent', so that message is never sent again.
        await self.sends.add(
            (work.ext_message_id, attempt, sent.provider_message_id, sent.segments)
        )
        return await self.events.dispatched(
            Attempt(work.ext_message_id, work.channel, provider, attempt),
            sent.provider_message_id,
            sent.segments,
            self.sending_domain(work),
        )

    async def _retrying(self, work: DispatchWork, provider: str, attempt: int, reason: str) -> None:
        tried = Attempt(work.ext_message_id, work.channel, provider, attempt)
        await (await self.events.failed(tried, reason, retryable=True))
        OUTCOMES.labels(self.family, work.channel.value, provider, "retry", reason).inc()

    async def _park(self, work: DispatchWork, park: Park) -> None:
        await self.ledger.park(work.ext_message_id, park.last_attempt, park.delay_s, park.reason)
        retry_at = datetime.now(UTC) + timedelta(seconds=park.delay_s)
        provider = self.routes[work.channel].provider.name
        await (
            await self.events.parked(
                Attempt(work.ext_message_id, work.channel, provider, park.last_attempt),
                park.reason,
                retry_at,
            )
        )
        PARKED.labels(self.family, park.reason).inc()
        log.info(
            "dispatch parked for a later retry",
            stage=self.name,
            ext_message_id=str(work.ext_message_id),
            reason=park.reason,
            retry_in_s=round(park.delay_s, 1),
        )

    async def fail(self, work: DispatchWork, provider: str, attempt: int, reason: str) -> Ack:
        await self.ledger.mark_failed(work.ext_message_id, attempt, reason)
        observe_step(PROVIDER_ACCEPTED, self.family, "failed", work.accepted_at)
        OUTCOMES.labels(
            self.family, work.channel.value, provider, "failed", reason.split(":")[0]
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
        return await self.events.failed(
            Attempt(work.ext_message_id, work.channel, provider, attempt), reason, retryable=False
        )


def _record(guard: ProviderGuard, outcome: Sent | ProviderFailure) -> None:
    """What the breaker learns: a permanent failure says the provider is up."""
    if isinstance(outcome, Sent):
        guard.breaker.record_success()
    elif outcome.retryable:
        guard.breaker.record_transient_failure()
    else:
        guard.breaker.record_neutral()


def _age_s(work: DispatchWork) -> float:
    accepted = work.accepted_at if work.accepted_at.tzinfo else work.accepted_at.replace(tzinfo=UTC)
    return (datetime.now(UTC) - accepted).total_seconds()


def _outbound(
    work: DispatchWork, recipient: str, content: MessageContent, attempt: int
) -> Outbound:
    return Outbound(
        work.ext_message_id,
        work.channel,
        work.ext_user_id,
        work.uid,
        recipient,
        content,
        attempt,
        work.activity_type,
    )
