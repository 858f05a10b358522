"""Requests without a valid token, refused cheaply.  Anyone who reaches the port can send
them, so none of them touches the database on its own: they are counted in memory and
audited in aggregate (one row per interval with the count), and beyond a rate they are
answered 429 without even that.  An audit row per request would let a stranger grow the
append-only log and queue every real access behind the chain head's lock."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

from prometheus_client import Counter as Metric

from services.vault.throttle import TokenBucket
from shared.logging import get_logger

log = get_logger(__name__)

ANONYMOUS = Metric(
    "blindpost_vault_anonymous_refusals_total",
    "Requests refused for want of a valid token, by outcome (refused, rate_limited)",
    ["outcome"],
)
Flush = Callable[[dict[str, int]], Awaitable[None]]
"""Audits the refusals counted since the last flush (operation -> count)."""


class AnonymousRefusals:
    def __init__(self, rate_per_s: float, burst: int, interval_s: float) -> None:
        self.bucket = TokenBucket(rate_per_s, burst)
        self.interval_s = interval_s
        self._pending: Counter[str] = Counter()

    def admit(self, operation: str) -> bool:
        """Count one refusal; False when over the rate (answer 429, count nothing more)."""
        if not self.bucket.take():
            ANONYMOUS.labels("rate_limited").inc()
            self._pending["rate_limited"] += 1
            return False
        ANONYMOUS.labels("refused").inc()
        self._pending[operation] += 1
        return True

    def take(self) -> dict[str, int]:
        pending, self._pending = dict(self._pending), Counter()
        return pending

    async def run(self, flush: Flush, stop: asyncio.Event) -> None:
        """Flush every interval, and once more when stopping (nothing counted is lost)."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.interval_s)
            except TimeoutError:
                pass
            pending = self.take()
            if pending:
                try:
                    await flush(pending)
                except Exception as exc:  # noqa: BLE001 - counted again next interval
                    # Kept for the next interval: the database may be back by then.
                    log.warning("anonymous refusals not audited yet", error=type(exc).__name__)
                    self._pending.update(pending)
                    if stop.is_set():
                        raise
