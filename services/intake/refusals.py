"""Every refused request is an event (``message.refused``): the code, a fixed reason, and
the request's uid and ext_user_id when it had valid ones — never anything else from it.

A refusal is on its own stream (``shared.events.refusal_id_for``), never on a message's:
the same request refused again for the same reason is the same event, stored once.  A
request with no uid we can trust (unauthorised, unparseable) is recorded once per channel,
code and minute, so a caller hammering intake cannot flood the log.

Published without holding the answer: Smartico's answer never waits for it, and when
Kafka is away (code 6 is that case) the refusal is counted as lost and logged, never
retried for ever.  In flight at most ``limit`` at once; beyond it they are counted lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import Counter

from services.intake.requests import Request
from services.intake.throttle import LogThrottle
from shared.domain import Channel, ErrorCode
from shared.events import Event, MessageRefused, refusal_id_for
from shared.kafka import RecoveringProducer
from shared.logging import get_logger

log = get_logger(__name__)
PRODUCER = "intake"

REASONS = {
    ErrorCode.USER_NOT_FOUND: "user_not_found",
    ErrorCode.INVALID_REQUEST: "invalid_request",
    ErrorCode.UNAUTHORIZED: "unauthorized",
    ErrorCode.NO_ADDRESS: "no_address",
    ErrorCode.OPTED_OUT: "opted_out",
    ErrorCode.TEMPORARILY_UNAVAILABLE: "temporarily_unavailable",
    ErrorCode.INTERNAL_ERROR: "internal_error",
}
UNLOGGED = Counter(
    "blindpost_intake_refusals_unlogged_total",
    "Refusals whose message.refused event could not be published (Kafka away, too many)",
    ["error_code"],
)


def refusal_event(
    channel: Channel,
    code: ErrorCode,
    request: Request | None,
    now: float | None = None,
    reason: str | None = None,
) -> Event:
    """``reason`` when the refusal says more than its code (``suppressed``, answered 5)."""
    uid = request.uid if request else None
    reference = uid if uid is not None else f"\x1eminute {int((now or time.time()) // 60)}"
    return Event.create(
        refusal_id_for(channel, reference, int(code)),
        MessageRefused(
            channel=channel,
            error_code=int(code),
            reason=reason or REASONS[code],
            uid=uid,
            ext_user_id=request.ext_user_id if request else None,
        ),
        PRODUCER,
    )


class Refusals:
    def __init__(self, producer: RecoveringProducer, topic: str, limit: int = 1000) -> None:
        self.producer = producer
        self.topic = topic
        self.limit = limit
        self._in_flight: set[asyncio.Task[None]] = set()
        self._recent: dict[tuple[Channel, ErrorCode], object] = {}
        self._log = LogThrottle(log)

    def record(
        self,
        channel: Channel,
        code: ErrorCode,
        request: Request | None,
        reason: str | None = None,
    ) -> None:
        event = refusal_event(channel, code, request, reason=reason)
        if request is None:
            # Once per channel, code and minute (the event id is the minute's).
            if self._recent.get((channel, code)) == event.event_id:
                return
            self._recent[(channel, code)] = event.event_id
        if len(self._in_flight) >= self.limit:
            UNLOGGED.labels(str(int(code))).inc()
            return
        task = asyncio.create_task(self._publish(event, code))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _publish(self, event: Event, code: ErrorCode) -> None:
        try:
            delivery = await self.producer.send(self.topic, event.to_bytes(), key=event.key)
            await delivery
        except Exception as exc:  # noqa: BLE001 - best effort: the answer is already given
            UNLOGGED.labels(str(int(code))).inc()
            self._log.warning("refusal not logged", error=type(exc).__name__)

    async def drain(self, timeout_s: float) -> None:
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout_s)


REFUSALS = web.AppKey("refusals", Refusals)


@asynccontextmanager
async def refusals(producer: RecoveringProducer, topic: str) -> AsyncIterator[Refusals]:
    """Refusals still in flight at shutdown get a moment to reach the broker."""
    recorder = Refusals(producer, topic)
    try:
        yield recorder
    finally:
        await recorder.drain(timeout_s=2.0)
