"""A sending domain's complaint level, and the event that records a change of it.

The level is derived from the tables, never stored: a domain's previous level is computed
from the counts as they stand when this process first meets the domain (after a start or
a rebalance), so a restart neither repeats a change that was committed nor forgets one
that was not (its events are read again and cross the threshold again).  A change
recorded again after a crash is the same event, stored once: its id is the change and the
hour it happened in, not the record that made it (after a restart the partitions may be
read in another interleaving, so another record crosses the threshold).  The same change
twice in one hour is one event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.deliverability.counting import Thresholds
from shared.events import (
    ComplaintLevel,
    DeliverabilityComplaintRateChanged,
    Event,
    domain_stream_id,
)
from shared.logging import get_logger

log = get_logger(__name__)
PRODUCER = "deliverability"

# (complaints, sent) of a domain over the 24 h window ending at a moment.
Totals = Callable[[str, float], tuple[int, int]]
Append = Callable[[Event], Awaitable[None]]


@dataclass
class ComplaintLevels:
    thresholds: Thresholds
    totals: Totals
    append: Append
    known: dict[str, ComplaintLevel] = field(default_factory=dict)

    async def counting(self, domain: str, kind: str, timestamp: float) -> None:
        """Call before one ``kind`` of ``domain`` is counted: appends the change it makes
        to the level, if any.  Before, not after: the change is on the log before the
        count that makes it can commit, so a crash in between counts the record again
        and appends the same event again, never loses it."""
        complaints, sent = self.totals(domain, timestamp)
        if domain not in self.known:
            self.known[domain] = self.thresholds.level(complaints, sent)
        complaints += kind == "complaint"
        sent += kind == "sent"
        level, previous = self.thresholds.level(complaints, sent), self.known[domain]
        if level == previous:
            return
        changed = DeliverabilityComplaintRateChanged(
            sending_domain=domain,
            level=level,
            previous=previous,
            window="24h",
            complaints=complaints,
            sent=sent,
            ratio=complaints / sent if sent else 0.0,
        )
        stream = domain_stream_id(domain)
        hour = int(timestamp // 3600)
        await self.append(
            Event.create(stream, changed, PRODUCER, discriminator=(previous, level, hour))
        )
        self.known[domain] = level
        log.info("complaint level changed", sending_domain=domain, level=level, previous=previous)

    def forget(self) -> None:
        """After a rebalance: the domains' counts may have moved."""
        self.known.clear()
