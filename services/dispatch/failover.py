"""The order one message tries its channel's providers in (``BLINDPOST_<CHANNEL>_PROVIDERS``).

The next provider sends when the current one's breaker is open or it failed in a way that
shows it did not take the message (it answered an error, or could not be reached).  A
failure after which it may have taken the message all the same (a timeout, a connection
lost mid-call) pins the message to that provider: only it can recognise a resend, by its
idempotency key, so another provider sending would be a second message.  The ledger records
the provider before each call and the pin (``pinned``), so a crash leaves both known.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.dispatch.delivery import Route


class Failover:
    def __init__(self, routes: Sequence[Route], pinned_to: str | None = None) -> None:
        self.pinned = pinned_to is not None
        if pinned_to is not None:
            # A provider dropped from the settings since: the first one has to do.
            routes = [r for r in routes if r.provider.name == pinned_to] or list(routes[:1])
        self.routes = list(routes)
        self.index = 0

    @property
    def route(self) -> Route:
        return self.routes[self.index]

    def pin(self) -> bool:
        """Pins the message to its current provider; True when that changes anything."""
        changed = not self.pinned and len(self.routes) > 1
        self.pinned = True
        return changed

    def next_open(self) -> Route | None:
        """The next provider whose breaker lets a call through (a probe is taken: call it),
        or None when there is none or the message is pinned."""
        if self.pinned:
            return None
        for index in range(self.index + 1, len(self.routes)):
            if self.routes[index].guard.breaker.allow():
                self.index = index
                return self.routes[index]
        return None
