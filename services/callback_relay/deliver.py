"""Calls back, without a sleep in anyone's way: due callbacks are claimed from the store's
retry schedule, called concurrently (bounded overall, and per host by the connection pool),
and their results written back in small batches the moment they arrive, with the events
reporting them (``publish.py`` takes those to Kafka)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from services.callback_relay.domain import RetryPolicy, callback_url
from services.callback_relay.sender import Answer, CallbackSender
from services.callback_relay.store import CallbackStore, DueCallback, Result
from shared.db_faults import refused_record, transient
from shared.domain import SmarticoStatus
from shared.events import CallbackAttempted, CallbackDeadLettered, CallbackDelivered, Event
from shared.kafka import Output, refused_by_database
from shared.latency import CALLBACK_DELIVERED, observe_step
from shared.logging import get_logger
from shared.topics import Topics

log = get_logger(__name__)
PRODUCER = "callback-relay"
FLUSHERS = 4

ATTEMPTS = Counter("blindpost_callback_attempts_total", "Callback attempts by outcome", ["outcome"])
DELIVERED = Counter("blindpost_callbacks_delivered_total", "Statuses Smartico acknowledged")
DEAD_LETTERED = Counter(
    "blindpost_callbacks_dead_lettered_total",
    "Callbacks given up on (retry period over, or refused by the SSRF guard)",
    ["reason"],
)
for _reason in ("refused", "retries_exhausted"):  # 0, not "no data", before the first
    DEAD_LETTERED.labels(_reason)
ATTEMPT_SECONDS = Histogram(
    "blindpost_callback_attempt_duration_seconds",
    "Duration of one callback HTTP attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PENDING = Gauge("blindpost_callbacks_pending", "Callbacks waiting for their next attempt")
IN_FLIGHT = Gauge("blindpost_callbacks_in_flight", "Callbacks being called right now")
OUTCOMES_UNKNOWN = Counter(
    "blindpost_callback_outcomes_unknown_total",
    "Callbacks called again after a relay died mid-call or the request went unanswered"
    " (Smartico may hear them twice)",
)
UNRECORDED = Counter(
    "blindpost_callback_results_refused_total", "Results the database refused to record"
)
# The request may have reached Smartico, which may have acted on it: no answer came back.
UNANSWERED = frozenset({"TimeoutError", "ServerDisconnectedError"})


def _unknown_outcome(callback: DueCallback, why: str) -> None:
    """Smartico may have heard the last attempt: the contract has no way to ask, and a status
    never reported is lost for good, so it is called again, and counted."""
    OUTCOMES_UNKNOWN.inc()
    log.warning(
        f"callback outcome unknown {why}, calling again",
        ext_message_id=str(callback.ext_message_id),
        status=callback.status.value,
        attempt=callback.attempt,
    )


@dataclass(frozen=True)
class _Done:
    result: Result
    outputs: tuple[Output, ...]


class Deliverer:
    def __init__(
        self,
        *,
        store: CallbackStore,
        sender: CallbackSender,
        topics: Topics,
        api_key: str,
        policy: RetryPolicy,
        concurrency: int,
        batch_size: int,
        poll_interval_s: float,
        lease_s: float,
    ) -> None:
        self.store = store
        self.sender = sender
        self.topics = topics
        self._api_key = api_key
        self.policy = policy
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.lease_s = lease_s
        self._done: asyncio.Queue[_Done] = asyncio.Queue()
        self._in_flight = 0
        self._slots_freed = asyncio.Event()
        # Claimed and not yet recorded: never claimed again by this relay meanwhile.
        self._held: set[tuple[uuid.UUID, SmarticoStatus]] = set()
        self.recorded = asyncio.Event()  # results (and their events) are in the store
        self.finished = asyncio.Event()  # run() returned: nothing more will be recorded

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Until ``stop`` is set; then no callback is claimed, and the calls in flight are
        finished and their results recorded before it returns (none is called twice)."""
        stop = stop or asyncio.Event()
        # Several flushers, so one batch's broker and database round trips overlap the next.
        flushers = [
            asyncio.create_task(self._flush_forever(), name=f"callback-flush-{i}")
            for i in range(FLUSHERS)
        ]
        try:
            await self._claim_until(stop)
            while self._in_flight:
                self._slots_freed.clear()
                await self._slots_freed.wait()
        finally:
            for flusher in flushers:
                flusher.cancel()
            self.finished.set()

    async def _claim_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            free = self.concurrency - self._in_flight
            if free <= 0:
                # Every slot is busy: wait for the flusher to free some, not for a timer.
                self._slots_freed.clear()
                await _first_of(self._slots_freed.wait(), stop.wait())
                continue
            wanted = min(self.batch_size, free)
            try:
                due = await self.store.claim_due(wanted, self.lease_s, list(self._held))
            except Exception as exc:
                if not transient(exc):
                    raise  # a query of ours the database refuses: retrying cannot help
                log.warning("due callbacks not claimed, will retry", error=type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            for callback in due:
                self._in_flight += 1
                self._held.add((callback.ext_message_id, callback.status))
                if callback.outcome_unknown:
                    _unknown_outcome(callback, "after a crash")
                asyncio.create_task(self._attempt(callback))
            IN_FLIGHT.set(self._in_flight)
            if len(due) < wanted:
                # Nothing more is due right now.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval_s):
                        await stop.wait()

    async def _attempt(self, callback: DueCallback) -> None:
        started = time.perf_counter()
        build = partial(
            callback_url,
            channel=callback.channel,
            ext_message_id=str(callback.ext_message_id),
            status=callback.status,
            api_key=self._api_key,
        )
        try:
            answer = await self.sender.call(callback.callback_url, build)
        except Exception as exc:  # noqa: BLE001 - a bug here must not lose the callback
            answer = Answer("retry", error=type(exc).__name__)
        ATTEMPT_SECONDS.observe(time.perf_counter() - started)
        ATTEMPTS.labels(answer.outcome).inc()
        if answer.error in UNANSWERED:
            _unknown_outcome(callback, f"after {answer.error}")
        await self._done.put(self.decide(callback, answer))

    def decide(self, callback: DueCallback, answer: Answer, now: datetime | None = None) -> _Done:
        now = now or datetime.now(UTC)
        mid, status = callback.ext_message_id, callback.status
        attempted = Event.create(
            mid,
            CallbackAttempted(
                status=status,
                attempt=callback.attempt,
                outcome="delivered"
                if answer.outcome == "delivered"
                else ("refused" if answer.outcome == "refused" else "retry"),
                http_status=answer.http_status,
                error_code=answer.error_code,
                error=answer.error,
            ),
            PRODUCER,
            discriminator=(status.value, callback.attempt),
        )
        outputs = [self._event(attempted)]
        if answer.outcome == "delivered":
            DELIVERED.inc()
            family = callback.channel.family.value
            observe_step(CALLBACK_DELIVERED, family, "delivered", callback.first_seen_at)
            delivered = CallbackDelivered(status=status, attempts=callback.attempt)
            outputs.append(
                self._event(Event.create(mid, delivered, PRODUCER, discriminator=(status.value,)))
            )
            return _Done(Result(mid, status, "delivered"), tuple(outputs))
        delay = self.policy.delay(callback.attempt)
        deadline = callback.first_seen_at + timedelta(seconds=self.policy.period_s)
        if answer.outcome != "refused" and now + timedelta(seconds=delay) < deadline:
            return _Done(Result(mid, status, "pending", delay, answer.error), tuple(outputs))
        reason = (
            f"refused: {answer.error}"
            if answer.outcome == "refused"
            else f"retry period over after {callback.attempt} attempts; last: {answer.error}"
        )
        DEAD_LETTERED.labels(
            "refused" if answer.outcome == "refused" else "retries_exhausted"
        ).inc()
        log.error(
            "callback dead-lettered",
            ext_message_id=str(mid),
            status=status.value,
            attempts=callback.attempt,
            reason=reason,
        )
        dead = CallbackDeadLettered(status=status, attempts=callback.attempt, reason=reason[:500])
        outputs.append(
            self._event(Event.create(mid, dead, PRODUCER, discriminator=(status.value,)))
        )
        record = {
            "ext_message_id": str(mid),
            "status": status.value,
            "type": callback.channel.family.value,
            "callback_url": callback.callback_url,  # as Smartico gave it: no api_key in it
            "attempts": callback.attempt,
            "reason": reason[:500],
        }
        outputs.append(
            Output(
                self.topics.callbacks_dead_letter,
                json.dumps(record).encode(),
                key=str(mid).encode(),
            )
        )
        return _Done(Result(mid, status, "dead", error=reason[:500]), tuple(outputs))

    def _event(self, event: Event) -> Output:
        return Output(self.topics.message_events, event.to_bytes(), key=event.key)

    async def _flush_forever(self) -> None:
        while True:
            batch = [await self._done.get()]
            while not self._done.empty() and len(batch) < 1000:
                batch.append(self._done.get_nowait())
            await self._finish(batch)
            for done in batch:
                self._held.discard((done.result.ext_message_id, done.result.status))
            self._in_flight -= len(batch)
            IN_FLIGHT.set(self._in_flight)
            self._slots_freed.set()
            self.recorded.set()

    async def _finish(self, batch: list[_Done]) -> None:
        """Retried until recorded; one the database refuses is left out alone, loudly."""
        while True:
            try:
                results = [done.result for done in batch]
                return await self.store.finish(results, [o for d in batch for o in d.outputs])
            except Exception as exc:  # noqa: BLE001 - keep the results, retry the write
                if refused_record(exc):
                    reason = refused_by_database(exc)
                    break
                log.warning("callback results not recorded yet", error=type(exc).__name__)
                await asyncio.sleep(1.0)
        if len(batch) > 1:
            for done in batch:
                await self._finish([done])
            return
        UNRECORDED.inc()
        mid = str(batch[0].result.ext_message_id)
        log.error("callback result not recorded", ext_message_id=mid, reason=reason)

    async def report_pending(self, interval_s: float) -> None:
        while True:
            try:
                PENDING.set(await self.store.pending())
            except Exception as exc:  # noqa: BLE001 - metrics only
                log.debug("pending callbacks not counted", error=type(exc).__name__)
            await asyncio.sleep(interval_s)


async def _first_of(*waits: Coroutine[Any, Any, object]) -> None:
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
