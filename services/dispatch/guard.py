"""Per-provider protection: a token-bucket rate limit, a concurrency limit and a circuit
breaker.  Pure asyncio, no I/O, so tests drive it directly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import Gauge

BREAKER_OPEN = Gauge(
    "blindpost_dispatch_circuit_open",
    "1 while the provider's circuit breaker is open (calls are parked, not made)",
    ["provider"],
)


class TokenBucket:
    def __init__(
        self,
        rate_per_s: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.rate = rate_per_s
        self.sleep = sleep
        self.capacity = burst if burst is not None else max(1.0, rate_per_s / 10)
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:  # FIFO: waiters are served in arrival order
            while True:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1 - 1e-9:  # float dust must not spin the loop
                    self.tokens -= 1
                    return
                await self.sleep((1 - self.tokens) / self.rate)


@dataclass
class CircuitBreaker:
    """Opens after ``threshold`` transient failures in a row; after ``cooldown_s`` one
    probe call is let through (half-open): success closes it, failure re-opens it."""

    provider: str
    threshold: int
    cooldown_s: float
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    probing: bool = field(default=False)

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        if self.clock() - self.opened_at >= self.cooldown_s and not self.probing:
            self.probing = True
            return True
        return False

    def retry_in(self) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self.clock() - self.opened_at))

    def record_success(self) -> None:
        self.failures = 0
        self.probing = False
        if self.opened_at is not None:
            self.opened_at = None
            BREAKER_OPEN.labels(self.provider).set(0)

    def record_transient_failure(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.threshold:
            self.probing = False
            self.opened_at = self.clock()
            BREAKER_OPEN.labels(self.provider).set(1)

    def record_neutral(self) -> None:
        """A permanent failure says the provider is up: it releases a probe."""
        self.probing = False
        if self.opened_at is not None:
            self.record_success()


@dataclass
class ProviderGuard:
    provider: str
    limiter: TokenBucket
    concurrency: asyncio.Semaphore
    breaker: CircuitBreaker

    @classmethod
    def create(
        cls,
        provider: str,
        *,
        rate_per_s: float,
        concurrency: int,
        breaker_threshold: int,
        breaker_cooldown_s: float,
    ) -> ProviderGuard:
        BREAKER_OPEN.labels(provider).set(0)
        return cls(
            provider,
            TokenBucket(rate_per_s),
            asyncio.Semaphore(concurrency),
            CircuitBreaker(provider, breaker_threshold, breaker_cooldown_s),
        )
