"""System-level faults under a steady stream of e-mails, SMS and custom IM as Smartico sends
them (retrying a uid on 6, 9 or a refused connection).

The whole gateway runs as real processes on a private Kafka and a private PostgreSQL.  One
after another: services are SIGKILLed and restarted; the broker is restarted; PostgreSQL is
restarted (an immediate stop: a crash); the vault is down for a while; the SMTP server
answers 421 for a while; Smartico's callback endpoint is down for a while; a second replica
of a consumer joins and the first is killed while the group rebalances.  Before each fault,
``flow`` more messages must have been called back ``accepted`` (the whole gateway moves,
not only intake).  At the end it counts per accepted message (``tally.py``): nothing may be
lost, nothing sent twice, and a status called back twice only where a relay crash cut the
call short (docs/statuses.md).

Two sizes (docs/reliability.md):
- ``make chaos`` (``CHAOS_FLOW`` set): every service killed, every consumer doubled and
  killed mid-rebalance, the vault down and SMTP refusing for ``CHAOS_FAULT_S`` (60),
  Smartico down for ``CHAOS_SMARTICO_DOWN_S`` (300); the table in ``var/chaos/report.md``.
- ``make test``: every kind of fault once, seconds each, a small flow.
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.chaos.gateway import CONSUMERS, SERVICES, ChaosGateway, chaos_gateway
from tests.chaos.stream import ChaosStream
from tests.chaos.tally import Tally
from tests.support.polling import eventually
from tests.support.smartico_stream import players_and_stream

FULL = "CHAOS_FLOW" in os.environ
REPORT = Path(__file__).parents[2] / "var" / "chaos" / "report.md"


@dataclass(frozen=True)
class Plan:
    flow: int  # messages called back between two faults
    fault_s: float  # the vault down, the SMTP server refusing
    smartico_down_s: float
    killed: list[str]
    doubled: list[str]
    senders: int
    pause_s: float
    recovery_s: float  # how long the gateway may take to move again after a fault

    @classmethod
    def from_env(cls) -> Plan:
        if FULL:
            return cls(
                flow=int(os.environ["CHAOS_FLOW"]),
                fault_s=float(os.environ.get("CHAOS_FAULT_S", "60")),
                smartico_down_s=float(os.environ.get("CHAOS_SMARTICO_DOWN_S", "300")),
                killed=SERVICES,
                doubled=CONSUMERS,
                senders=2,
                pause_s=0.1,
                recovery_s=240,
            )
        return cls(
            flow=3,
            fault_s=1.0,
            smartico_down_s=1.0,
            killed=["dispatch-email", "callback-relay"],
            doubled=["dispatch-sms"],
            senders=1,
            pause_s=0.2,
            recovery_s=60,
        )

    def faults(self, gateway: ChaosGateway) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        def kill(service: str) -> Callable[[], Awaitable[None]]:
            return lambda: gateway.kill_and_restart(service)

        def double(service: str) -> Callable[[], Awaitable[None]]:
            return lambda: gateway.replica_killed_mid_rebalance(service)

        return [
            *((f"SIGKILL {s}", kill(s)) for s in self.killed),
            ("broker restarted", gateway.restart_broker),
            ("PostgreSQL restarted (immediate stop)", gateway.restart_postgres),
            (f"vault down {self.fault_s:g} s", lambda: gateway.vault_down(self.fault_s)),
            (f"SMTP 421 for {self.fault_s:g} s", lambda: gateway.smtp_refusing(self.fault_s)),
            (
                f"Smartico down {self.smartico_down_s:g} s",
                lambda: gateway.smartico_down(self.smartico_down_s),
            ),
            *((f"2nd {s} replica, 1st killed mid-rebalance", double(s)) for s in self.doubled),
        ]


async def caught_up(missing: Callable[[], int], stalled_s: float) -> bool:
    """Waits while the backlog the faults left shrinks; False once it stopped shrinking for
    ``stalled_s`` (what is missing then is counted as lost).  A long run leaves thousands
    behind on a small machine: a fixed bound would count the slow as lost."""
    best, last_progress = missing(), time.monotonic()
    while best:
        if time.monotonic() - last_progress > stalled_s:
            return False
        await asyncio.sleep(1.0)  # a polling interval: what counts is the progress
        if (now := missing()) < best:
            best, last_progress = now, time.monotonic()
    return True


@pytest.mark.slow
@pytest.mark.timeout(3 * 3600 if FULL else 600)
async def test_nothing_is_lost_or_sent_twice_through_a_bad_hour(base_env):
    plan = Plan.from_env()
    # Logs outside pytest's temporary folders: they outlive the run for its report.
    logs = REPORT.parent / f"run-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    began = time.monotonic()
    timings: list[str] = []
    async with chaos_gateway(base_env, logs) as gateway:
        world = gateway.world
        stream = ChaosStream(
            await players_and_stream(gateway.ports, gateway.env, world), plan.pause_s
        )
        senders = [asyncio.create_task(stream.run(s)) for s in range(plan.senders)]

        def called_back() -> set[str]:
            return {c["ext_message_id"] for c in world.callbacks if c["status"] == "accepted"}

        try:
            timings.append(f"gateway up after {time.monotonic() - began:.0f} s")
            for name, fault in plan.faults(gateway):
                await eventually(
                    stream.completed(called_back, more=plan.flow),
                    within=plan.recovery_s,
                    what=f"messages called back before: {name}",
                    details=lambda: gateway.processes["callback-relay"].log_tail(20),
                )
                started = time.monotonic()
                await fault()
                timings.append(f"{name}: {time.monotonic() - started:.0f} s")
                print(f"[chaos] {timings[-1]}; {len(stream.accepted)} accepted", flush=True)
            await eventually(
                stream.completed(called_back, more=plan.flow),
                within=plan.recovery_s,
                what="messages called back after the last fault",
            )
        finally:
            stream.stopped.set()
            await asyncio.gather(*senders, return_exceptions=True)
        accepted = dict(stream.accepted)
        # Everything accepted arrives and is called back; what never does is counted lost.
        settled = await caught_up(lambda: len(set(accepted) - called_back()), plan.recovery_s)
        tally = Tally.of(accepted, gateway.mails, world, gateway.all_processes())
        exits = dict(gateway.unplanned_exits)

    report = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()} ({os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}), {'full' if FULL else 'scaled-down'} run, "
        f"flow {plan.flow}, {time.monotonic() - began:.0f} s\n\n"
        + "\n".join(f"- {t}" for t in timings)
        + f"\n\n{tally.table()}\n\nexited on their own and restarted: {exits or 'none'}\n"
        + f"settled: {settled}; service logs: {logs}\n"
    )
    print(report)
    if FULL:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(report)
    assert tally.failures() == []
