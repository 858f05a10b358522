"""CPU seconds each process of the gateway spent over a run, from ``/proc/<pid>/stat``: the
figure the end-to-end goal is won or lost on, since every stage, Kafka and PostgreSQL share
the same two cores.  PostgreSQL counts as one: the postmaster, its live backends, and the
backends that ended during the run (the postmaster's reaped-children times)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        # The command name (field 2) may hold spaces: the fields after it are what we read.
        return stat.read().rsplit(")", 1)[1].split()


def process_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """User + system CPU of ``pid`` (all its threads), and of its reaped children if asked."""
    fields = _stat_fields(pid)  # fields[11] is utime (field 14 of proc(5))
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICKS


def _children(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(_stat_fields(int(entry))[1]) == pid:
                    children.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                continue  # ended while we looked
    return children


async def postmaster_pid(dsn: str) -> int:
    """The PostgreSQL server's main process behind ``dsn``: the parent of a backend (a test
    may run private servers beside it)."""
    connection = await asyncpg.connect(dsn)
    try:
        # Read while the backend lives: it exits when the connection closes.
        return int(_stat_fields(int(await connection.fetchval("SELECT pg_backend_pid()")))[1])
    finally:
        await connection.close()


def postgres_seconds(postmaster: int) -> float:
    total = process_seconds(postmaster, reaped_children=True)
    for child in _children(postmaster):
        try:
            total += process_seconds(child)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def kafka_pid() -> int | None:
    """The local broker started by deploy/local/infra.sh."""
    pid_file = ROOT / "var" / "kafka" / "kafka.pid"
    return int(pid_file.read_text()) if pid_file.exists() else None


@dataclass
class CpuMeter:
    """Reads every measured process's CPU seconds at once; the difference of two readings
    is what the run cost."""

    readers: dict[str, Callable[[], float]]

    @classmethod
    def of(cls, pids: dict[str, int], postmaster: int) -> CpuMeter:
        readers: dict[str, Callable[[], float]] = {
            name: functools.partial(process_seconds, pid) for name, pid in pids.items()
        }
        if (broker := kafka_pid()) is not None:
            readers["Kafka broker"] = lambda: process_seconds(broker)
        readers["PostgreSQL (all backends)"] = functools.partial(postgres_seconds, postmaster)
        return cls(readers)

    def read(self) -> dict[str, float]:
        return {name: reader() for name, reader in self.readers.items()}


OUTSIDE = "(outside) "
"""The prefix of a measured process that is not the gateway's (the benchmark's own)."""


@dataclass(frozen=True)
class Idle:
    """CPU seconds a second each process spent with no message to carry (polls, timers,
    and on a shared machine whatever else uses Kafka and PostgreSQL), measured just before
    the burst."""

    per_second: dict[str, float]

    @classmethod
    def between(cls, first: dict[str, float], second: dict[str, float], seconds: float) -> Idle:
        return cls({name: (second[name] - first[name]) / seconds for name in first})


def _per_message(
    before: dict[str, float],
    after: dict[str, float],
    messages: int,
    idle: Idle | None,
    burst_s: float,
) -> tuple[dict[str, float], dict[str, float]]:
    """CPU ms per message of each process: as spent, and net of the idle rate."""
    spent = {name: (after[name] - before[name]) * 1000 / messages for name in before}
    net = {
        name: ms - (idle.per_second[name] * burst_s * 1000 / messages if idle else 0.0)
        for name, ms in spent.items()
    }
    return spent, net


def gateway_net_ms(
    before: dict[str, float],
    after: dict[str, float],
    messages: int,
    idle: Idle | None = None,
    burst_s: float = 0.0,
) -> float:
    """The gateway's CPU ms per message, net of idle: every process but the benchmark's own."""
    _spent, net = _per_message(before, after, messages, idle, burst_s)
    return sum(ms for name, ms in net.items() if not name.startswith(OUTSIDE))


def budget_table(
    before: dict[str, float],
    after: dict[str, float],
    messages: int,
    idle: Idle | None = None,
    burst_s: float = 0.0,
) -> str:
    """Milliseconds of CPU per message, per process, most expensive first; the gateway's
    total, then what the benchmark's own processes spent.  With ``idle``, also net of the
    idle rate over the burst's ``burst_s``: on a loaded machine a slow burst charges its
    messages with more idle time, which the net column leaves out."""
    spent, net = _per_message(before, after, messages, idle, burst_s)

    def row(name: str) -> str:
        return f"| {name} | {spent[name]:.2f} |" + (f" {net[name]:.2f} |" if idle else "")

    ours = [n for n in sorted(spent, key=lambda n: -spent[n]) if not n.startswith(OUTSIDE)]
    lines = ["| process | CPU ms per message |" + (" net of idle |" if idle else "")]
    lines.append("| --- | ---: |" + (" ---: |" if idle else ""))
    lines += [row(name) for name in ours]
    total = f"| **gateway total** | **{sum(spent[n] for n in ours):.2f}** |"
    lines.append(total + (f" **{sum(net[n] for n in ours):.2f}** |" if idle else ""))
    lines += [row(n) for n in spent if n.startswith(OUTSIDE)]
    return "\n".join(lines)
