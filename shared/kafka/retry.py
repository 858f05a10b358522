"""The one retry-with-back-off every stage uses while a dependency is away."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client import Counter

from shared.db_faults import transient
from shared.logging import get_logger

log = get_logger(__name__)
R = TypeVar("R")

STAGE_RETRIES = Counter(
    "blindpost_stage_batch_retries_total",
    "Batches a stage rolled back and retried after a transient failure",
    ["stage"],
)


@dataclass
class Backoff:
    initial_s: float = 0.2
    maximum_s: float = 30.0
    _current: float = field(default=0.0, init=False)

    def next_delay(self) -> float:
        self._current = min(self.maximum_s, (self._current * 2) or self.initial_s)
        return self._current * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto

    def reset(self) -> None:
        self._current = 0.0


async def retry_until_done(
    attempt: Callable[[], Awaitable[R]],
    *,
    stage: str,
    retry_on: tuple[type[BaseException], ...],
    backoff: Backoff | None = None,
    **context: object,
) -> R:
    """Await ``attempt()`` until it returns.  A failure in ``retry_on`` (a dependency away),
    or a transient database failure (:func:`shared.db_faults.transient`, for every stage: a
    PostgreSQL restart or a lost deadlock must not stop a process), is waited out with
    jittered back-off and the same work is tried again, so nothing is skipped; anything else
    propagates (a record PostgreSQL refuses is the stage's to dead-letter:
    :func:`shared.kafka.refusals.handle_or_refuse`)."""
    backoff = backoff or Backoff()
    while True:
        try:
            result = await attempt()
        except Exception as exc:
            if not (isinstance(exc, retry_on) or transient(exc)):
                raise
            STAGE_RETRIES.labels(stage).inc()
            delay = backoff.next_delay()
            log.warning(
                "not done yet, will retry",
                stage=stage,
                error=type(exc).__name__,
                retry_in_s=round(delay, 2),
                **context,
            )
            await asyncio.sleep(delay)
        else:
            backoff.reset()
            return result
