"""What every benchmark shares: a result row, latency percentiles, a fixed-concurrency
HTTP load loop, and the table ``make bench`` prints."""

from __future__ import annotations

import asyncio
import os
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tests.support.databases import create_database, drop_database
from tests.support.env import local_env
from tests.support.kafka import delete_topics_with_prefix, publish
from tests.support.polling import eventually
from tests.support.ports import free_port

__all__ = ["delete_topics_with_prefix", "drop_database", "eventually", "free_port", "publish"]

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


def bench_env() -> dict[str, str]:
    """The local settings, with any BLINDPOST_* / KAFKA_* variable of this shell winning."""
    env = local_env()
    env.update({k: v for k, v in os.environ.items() if k.startswith(("BLINDPOST_", "KAFKA_"))})
    return env


async def scratch_database(label: str, role: str = "blindpost_events") -> tuple[str, str]:
    """A fresh database owned by ``role``: (name, DSN as that role)."""
    return await create_database(f"bench_{label}", role)


@dataclass(frozen=True)
class Row:
    benchmark: str
    subject: str
    """What was measured: ours, or the baseline measured in the same run."""
    operations: int
    seconds: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    note: str = ""

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def closed_loop(
    operation: Callable[[], Awaitable[object]], *, total: int, concurrency: int
) -> tuple[float, list[float]]:
    """Runs ``total`` operations, ``concurrency`` in flight; returns (seconds, latencies ms)."""
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await operation()
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def row_from_loop(
    benchmark: str, subject: str, seconds: float, latencies: list[float], note: str = ""
) -> Row:
    return Row(
        benchmark,
        subject,
        len(latencies),
        seconds,
        percentile(latencies, 0.5),
        percentile(latencies, 0.99),
        note,
    )


def machine() -> str:
    return (
        f"{platform.node()} · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · {platform.platform()}"
    )


def render(rows: list[Row]) -> str:
    header = (
        f"{'benchmark':<28} {'subject':<34} {'ops':>9} {'ops/s':>10} "
        f"{'p50 ms':>8} {'p99 ms':>8}  note"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        p50 = f"{row.p50_ms:8.2f}" if row.p50_ms is not None else f"{'':>8}"
        p99 = f"{row.p99_ms:8.2f}" if row.p99_ms is not None else f"{'':>8}"
        lines.append(
            f"{row.benchmark:<28} {row.subject:<34} {row.operations:>9} "
            f"{row.per_second:>10.0f} {p50} {p99}  {row.note}"
        )
    return "\n".join(lines)
