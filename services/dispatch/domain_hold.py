"""Parking a parked sending domain's mail instead of sending it: the consumer's new claims
and the sweeper's due rows alike, so no path sends for a parked domain.

A held message is an ordinary parked row of the ledger (its sealed work item kept, reason
``domain_parked``) and a ``dispatch.parked`` on its timeline, appended before the batch's
offsets are committed: nothing is lost, and a resume sends it once (``parked_domains.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.dispatch.event_log import Ack, Attempt, EventLog
from services.dispatch.metrics import PARKED
from services.dispatch.parked_domains import HOLD_REASON, Held, ParkedDomains
from shared.logging import get_logger
from shared.work import DispatchWork

log = get_logger(__name__)


@dataclass(frozen=True)
class Candidate:
    work: DispatchWork
    attempt: int  # the last one made (0: none yet)
    held_already: bool = False  # held before and looked at again: its event is in the log


@dataclass
class DomainHold:
    domains: ParkedDomains
    events: EventLog
    sending_domain: Callable[[DispatchWork], str | None]
    provider_of: Callable[[DispatchWork], str]
    family: str
    name: str

    async def hold(self, candidates: list[Candidate]) -> tuple[set[uuid.UUID], list[Ack]]:
        """The ids held, and the acknowledgements of their ``dispatch.parked`` events."""
        by_id: dict[uuid.UUID, Candidate] = {}
        rows: list[Held] = []
        for c in candidates:
            if domain := self.sending_domain(c.work):
                by_id[c.work.ext_message_id] = c
                rows.append(Held(c.work.ext_message_id, domain, c.attempt))
        held = await self.domains.hold(rows)
        retry_at = datetime.now(UTC) + timedelta(seconds=self.domains.recheck_s)
        acks = []
        for mid in held:
            c = by_id[mid]
            if c.held_already:
                continue
            attempt = Attempt(mid, c.work.channel, self.provider_of(c.work), c.attempt)
            acks.append(await self.events.parked(attempt, HOLD_REASON, retry_at))
            PARKED.labels(self.family, HOLD_REASON).inc()
        if held:
            log.info("mail of a parked sending domain held", stage=self.name, messages=len(held))
        return held, acks
