"""Token buckets: ``rate_per_s`` on average, ``burst`` at once; one per principal where each
principal has its own allowance."""

from __future__ import annotations

import time


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = float(burst)
        self._refilled = time.monotonic()

    def take(self, count: int = 1) -> bool:
        """``count`` tokens if there are as many; False (taking none) means over the rate."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate_per_s)
        self._refilled = now
        if self._tokens < count:
            return False
        self._tokens -= count
        return True


class PerPrincipal:
    """A bucket per principal, made on its first request (principals are configured, so
    their number is bounded)."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, principal: str, count: int) -> bool:
        bucket = self._buckets.get(principal)
        if bucket is None:
            bucket = self._buckets[principal] = TokenBucket(self.rate_per_s, self.burst)
        return bucket.take(count)
