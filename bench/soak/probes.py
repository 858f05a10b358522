"""What the soak samples each minute: each service's RSS and open file descriptors (from
/proc), PostgreSQL connections per database (pg_stat_activity) and consumer lag per group
and partition (the gauges every consuming service exports, shared/lag.py)."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from shared.lag import CONSUMER_LAG

LAG_METRIC = next(iter(CONSUMER_LAG.describe())).name


@dataclass
class Sample:
    minute: int
    at: datetime
    rss: dict[str, int] = field(default_factory=dict)
    """Bytes, per service."""
    fds: dict[str, int] = field(default_factory=dict)
    connections: dict[str, int] = field(default_factory=dict)
    """Per database (its role in the gateway: events, vault)."""
    lag: dict[str, list[int]] = field(default_factory=dict)
    """Records per partition, per consumer group."""
    accepted: int = 0
    mails: int = 0
    callbacks: int = 0


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def connections(admin_dsn: str, databases: dict[str, str]) -> dict[str, int]:
    """Connections per database, by the name given in ``databases`` (label -> database)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch(
            "SELECT datname, count(*) AS n FROM pg_stat_activity "
            "WHERE datname = ANY($1::text[]) GROUP BY datname",
            list(databases.values()),
        )
    finally:
        await conn.close()
    counts = {row["datname"]: int(row["n"]) for row in rows}
    return {label: counts.get(name, 0) for label, name in databases.items()}


async def consumer_lag(
    session: aiohttp.ClientSession, ports: dict[str, int], prefix: str
) -> dict[str, list[int]]:
    """Lag per partition of each consumer group, read from every service's /metrics (each
    service measures its own group); groups named without the run's topic prefix."""
    per_group: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for port in ports.values():
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
        for family in text_string_to_metric_families(text):
            for metric in family.samples:
                if metric.name != LAG_METRIC:
                    continue
                labels = metric.labels
                group = labels["group"].removeprefix(prefix)
                per_group[group][labels["topic"], labels["partition"]] = int(metric.value)
    return {group: list(lags.values()) for group, lags in sorted(per_group.items())}
