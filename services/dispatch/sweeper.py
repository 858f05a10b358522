"""The sweeper in every dispatcher replica: it takes due rows from the ledger (``FOR UPDATE
SKIP LOCKED``, leased, so one replica owns a row at a time) and continues their delivery.

Two kinds of row are due: 'parked' retries whose time has come, and 'sending' rows whose
lease ran out because a dispatcher died mid-call.  For the second the outcome is unknown;
``delivery_steps.next_step`` decides between a resend and ``outcome_unknown`` from how the
provider recognises a resend (docs/dispatch.md, "Crash safety").
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

from services.dispatch.delivery_steps import Budget, Fail, OutcomeUnknown, next_step
from services.dispatch.domain_hold import Candidate
from services.dispatch.event_log import Attempt
from services.dispatch.ledger import LedgerRow
from services.dispatch.metrics import PARKED_NOW
from services.dispatch.parked_domains import HOLD_REASON
from services.dispatch.pipeline import Dispatcher
from shared.logging import get_logger
from shared.work import DispatchWork

log = get_logger(__name__)


async def run_sweeper(dispatcher: Dispatcher, stop: asyncio.Event | None = None) -> None:
    """Until ``stop`` is set; a sweep in progress finishes its calls first."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            done = await sweep_once(dispatcher)
            PARKED_NOW.labels(dispatcher.channel.value).set(await dispatcher.ledger.count_parked())
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.warning("ledger sweep failed", stage=dispatcher.name, error=type(exc).__name__)
            done = 0
        if not done:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(dispatcher.settings.dispatch_sweep_interval_s):
                    await stop.wait()


async def sweep_once(dispatcher: Dispatcher, limit: int = 100) -> int:
    taken = [
        r
        for r in await dispatcher.ledger.take_due(limit, dispatcher.lease_s)
        if r.ext_message_id not in dispatcher.in_flight
    ]
    rows = await _not_held(dispatcher, taken)
    results = await asyncio.gather(
        *(_resume(dispatcher, row) for row in rows), return_exceptions=True
    )
    for row, result in zip(rows, results, strict=True):
        if isinstance(result, BaseException):
            log.warning(
                "retry from the ledger failed; it stays due",
                stage=dispatcher.name,
                ext_message_id=str(row.ext_message_id),
                error=type(result).__name__,
            )
    return len(taken)  # held again counts: a backlog of due rows is swept without a pause


async def _not_held(dispatcher: Dispatcher, rows: list[LedgerRow]) -> list[LedgerRow]:
    """Holds again the rows of a parked sending domain (domain_hold.py) and returns the
    rest.  A send whose outcome is unknown is left to its own rule: it may be out."""
    if dispatcher.holds is None:
        return rows
    candidates = []
    for row in rows:
        if row.work is not None and not (row.state == "sending" and row.called):
            with contextlib.suppress(ValueError):  # unreadable: _resume reports it
                work = DispatchWork.from_bytes(row.work)
                held_already = row.reason == HOLD_REASON
                candidates.append(Candidate(work, row.attempt, held_already))
    held, announced = await dispatcher.hold(candidates)
    for ack in announced:
        await ack
    return [row for row in rows if row.ext_message_id not in held]


async def _resume(dispatcher: Dispatcher, row: LedgerRow) -> None:
    if row.work is None:
        return
    work = DispatchWork.from_bytes(row.work)
    route = dispatcher.routes.get(work.channel)
    if route is None:
        return
    # The provider of the last attempt: the only one that may recognise a resend.
    provider = next(
        (r.provider for r in route.candidates() if r.provider.name == row.provider),
        route.provider,
    )
    # An unknown outcome, or a failure after which the provider may have the message, keeps
    # it with that provider (failover.py).
    unknown = row.state == "sending" and row.called
    pinned_to = row.provider if unknown or row.pinned else None
    dispatcher.in_flight.add(row.ext_message_id)
    try:
        if unknown:
            step = next_step(
                OutcomeUnknown(provider.redelivery), row.attempt, Budget.fresh(dispatcher.policy)
            )
            log.warning(
                "a send's outcome is unknown (the dispatcher stopped mid-call)",
                stage=dispatcher.name,
                ext_message_id=str(row.ext_message_id),
                provider=provider.name,
                resend=not isinstance(step, Fail),
            )
            if isinstance(step, Fail):
                await (
                    await dispatcher.delivery.fail(
                        work, provider.name, max(row.attempt, 1), step.reason
                    )
                )
                return
        attempt = row.attempt + 1
        await dispatcher.ledger.next_attempt(row.ext_message_id, attempt, dispatcher.lease_s)
        resumed_from: Literal["parked", "sending"] = (
            "sending" if row.state == "sending" else "parked"
        )
        await (
            await dispatcher.delivery.events.resumed(
                Attempt(row.ext_message_id, work.channel, provider.name, attempt), resumed_from
            )
        )
        for future in await dispatcher.delivery.deliver(work, attempt, pinned_to):
            await future
    finally:
        dispatcher.in_flight.discard(row.ext_message_id)
