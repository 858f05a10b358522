"""Whether a figure sampled once a minute grows without bound: the soak's verdicts, pure
(numbers in, findings out) so that unit tests can hand it series that grow and that level off.

Warm-up is the first ``warmup`` samples of the steady load: caches fill, connection pools
reach their working size, the allocator takes its arenas.  The level after warm-up is the
sample taken when it ends; growth is judged from there on."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

RSS_LIMIT = 0.20
"""RSS may end at most this far above its level after warm-up."""
TREND_MIN = 0.5
"""Kendall's tau from which a series counts as rising in most of its steps."""


@dataclass(frozen=True)
class Finding:
    """One figure of one subject (a service, a database, a consumer group) that grows."""

    subject: str
    figure: str
    reason: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.figure} {self.reason}"


def end_level(series: Sequence[float]) -> float:
    """The median of the last three samples: one collection's peak is not the level."""
    return statistics.median(series[-3:])


def trend(series: Sequence[float]) -> float:
    """Kendall's tau (tau-a) of the series against time: 1 when every later sample is
    higher than every earlier one, 0 when it has no direction, -1 when it only falls."""
    pairs = concordant = discordant = 0
    for i, earlier in enumerate(series):
        for later in series[i + 1 :]:
            pairs += 1
            concordant += later > earlier
            discordant += later < earlier
    return (concordant - discordant) / pairs if pairs else 0.0


def rss_growth(
    subject: str, series: Sequence[float], warmup: int, limit: float = RSS_LIMIT
) -> Finding | None:
    """A finding when RSS ends more than ``limit`` above its level after warm-up."""
    steady = series[warmup:]
    if len(steady) < 2:
        return None
    baseline, end = steady[0], end_level(steady)
    growth = end / baseline - 1 if baseline else 0.0
    if growth <= limit:
        return None
    return Finding(
        subject,
        "RSS",
        f"ends at {mib(end)}, {growth:+.0%} above {mib(baseline)} after warm-up "
        f"(limit {limit:+.0%})",
    )


def climbing(
    subject: str, figure: str, series: Sequence[float], warmup: int, min_rise: float
) -> Finding | None:
    """A finding when a count (open files, connections) climbs steadily after warm-up:
    it rises in most steps (``trend``), ends at least ``min_rise`` above where it began, and
    is still making new highs in its last third (a count that rose and levelled off is a
    pool that reached its size, not a leak)."""
    steady = series[warmup:]
    if len(steady) < 4:
        return None
    third = max(1, len(steady) // 3)
    rise = steady[-1] - steady[0]
    still_rising = max(steady[-third:]) > max(steady[:-third])
    direction = trend(steady)
    if rise < min_rise or not still_rising or direction < TREND_MIN:
        return None
    return Finding(
        subject,
        figure,
        f"climbs from {steady[0]:g} to {steady[-1]:g} after warm-up "
        f"(trend {direction:.2f}, new highs in the last third)",
    )


def unsettled_lag(group: str, partitions: Sequence[int], per_partition: int = 1) -> Finding | None:
    """A finding when a consumer group's lag did not come back to near zero: at most
    ``per_partition`` records on each partition (a transaction's commit marker takes an
    offset the group never commits past)."""
    behind = [lag for lag in partitions if lag > per_partition]
    if not behind:
        return None
    return Finding(
        group,
        "consumer lag",
        f"is {sum(partitions)} records at the end ({len(behind)} partition(s) more than "
        f"{per_partition} behind)",
    )


def mib(value: float) -> str:
    return f"{value / 2**20:.0f} MiB"
