"""``make soak``: the whole gateway under a steady stream of e-mails for SOAK_MINUTES,
sampling every service each minute; fails when a figure grows without bound or a message is
lost.  docs/reliability.md ("Soak") says what is measured and how it is judged.

Settings (environment): SOAK_MINUTES (30), SOAK_RATE (e-mails a second; default half the
end-to-end maximum measured first, for SOAK_RAMP_SECONDS, 60), SOAK_WARMUP_MINUTES (5, a
third of a shorter run), SOAK_DRAIN_SECONDS (180: how long the gateway may take to deliver
the rest once the stream stops).

    python -m bench.soak
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench.common import machine
from bench.soak import growth
from bench.soak.load import CountingSmtpHandler, Smartico, called_back, end_to_end_maximum
from bench.soak.probes import Sample, connections, consumer_lag, open_fds, rss_bytes
from bench.soak.report import Run, markdown, minute_table
from bench.stack import GATEWAY, Stack, running_gateway
from tests.dispatch.support import smtp_server
from tests.support.databases import ADMIN_DSN
from tests.support.smartico_stream import players_and_stream

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "var" / "soak"
FDS_MIN_RISE = 8  # in-flight requests move a service's open files by a few each minute
CONNECTIONS_MIN_RISE = 3


@dataclass(frozen=True)
class Settings:
    minutes: int
    rate: float | None
    warmup: int
    ramp_s: float
    drain_s: float

    @classmethod
    def from_env(cls) -> Settings:
        minutes = int(os.environ.get("SOAK_MINUTES") or 30)
        rate = os.environ.get("SOAK_RATE")
        return cls(
            minutes=minutes,
            rate=float(rate) if rate else None,
            warmup=int(os.environ.get("SOAK_WARMUP_MINUTES") or min(5, minutes // 3)),
            ramp_s=float(os.environ.get("SOAK_RAMP_SECONDS") or 60),
            drain_s=float(os.environ.get("SOAK_DRAIN_SECONDS") or 180),
        )


class ServiceExited(Exception):
    pass


@dataclass
class Soak:
    """The running gateway and what the soak reads of it and of the outside world."""

    stack: Stack
    mails: CountingSmtpHandler
    smartico: Smartico

    async def sample(self, session: aiohttp.ClientSession, minute: int) -> Sample:
        sample = Sample(minute, datetime.now(UTC))
        for service, process in self.stack.processes.items():
            assert process.process is not None
            if (code := process.process.poll()) is not None:
                raise ServiceExited(f"{service} exited with code {code} in minute {minute}")
            sample.rss[service] = rss_bytes(process.process.pid)
            sample.fds[service] = open_fds(process.process.pid)
        sample.connections = await connections(ADMIN_DSN, self.stack.databases)
        sample.lag = await self.lag(session)
        sample.accepted = len(self.smartico.accepted)
        sample.mails = len(self.mails.received)
        sample.callbacks = len(called_back(self.stack.world))
        return sample

    async def lag(self, session: aiohttp.ClientSession) -> dict[str, list[int]]:
        return await consumer_lag(session, self.stack.ports, self.stack.prefix)

    def delivered(self) -> bool:
        accepted = self.smartico.accepted
        return set(self.mails.received) >= accepted and called_back(self.stack.world) >= accepted

    async def drain(self, session: aiohttp.ClientSession, within_s: float) -> dict[str, list[int]]:
        """Waits (up to ``within_s``) until every accepted e-mail was delivered and called
        back and every group's lag is back near zero; returns the last lag seen."""
        deadline = time.monotonic() + within_s
        while True:
            lag = await self.lag(session)
            settled = not any(growth.unsettled_lag(group, parts) for group, parts in lag.items())
            if (self.delivered() and settled) or time.monotonic() > deadline:
                return lag
            await asyncio.sleep(2)

    def counts(self) -> dict[str, int]:
        accepted = self.smartico.accepted
        callbacks = Counter((c["ext_message_id"], c["status"]) for c in self.stack.world.callbacks)
        return {
            "e-mails posted": self.smartico.sent,
            "accepted": len(accepted),
            "refused by intake (after retries)": sum(self.smartico.refused.values()),
            "mails at the SMTP server": len(self.mails.received),
            "accepted e-mails that never reached the SMTP server": len(
                accepted - set(self.mails.received)
            ),
            "mails received more than once": sum(n > 1 for n in self.mails.received.values()),
            "accepted e-mails without an accepted callback": len(
                accepted - called_back(self.stack.world)
            ),
            "(message, status) called back more than once": sum(n > 1 for n in callbacks.values()),
        }


def findings(
    samples: list[Sample], warmup: int, final_lag: dict[str, list[int]], counts: dict[str, int]
) -> list[growth.Finding]:
    found: list[growth.Finding | None] = []
    for service in samples[0].rss:
        found.append(growth.rss_growth(service, [s.rss[service] for s in samples], warmup))
        found.append(
            growth.climbing(
                service, "open fds", [s.fds[service] for s in samples], warmup, FDS_MIN_RISE
            )
        )
    for db in samples[0].connections:
        series = [s.connections[db] for s in samples]
        found.append(
            growth.climbing(f"{db} database", "connections", series, warmup, CONNECTIONS_MIN_RISE)
        )
    found += [growth.unsettled_lag(group, parts) for group, parts in final_lag.items()]
    for count in (
        "accepted e-mails that never reached the SMTP server",
        "accepted e-mails without an accepted callback",
    ):
        if counts[count]:
            found.append(growth.Finding("gateway", "messages", f"lost: {counts[count]} {count}"))
    return [f for f in found if f]


async def soak_for(
    settings: Settings, soak: Soak, samples: list[Sample]
) -> tuple[float, str, dict[str, list[int]]]:
    """The measuring burst (unless SOAK_RATE is given), then the soak itself, sampling each
    minute into ``samples``; returns the rate, how it was chosen, and the lag after the drain."""
    rate, how = settings.rate or 0.0, "SOAK_RATE"
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        # A connection per post: a keep-alive pool would grow with every stall up to 64
        # and show in intake's open files as a climb that is ours, not intake's.
        aiohttp.ClientSession(
            timeout=timeout, connector=aiohttp.TCPConnector(force_close=True)
        ) as posts,
        aiohttp.ClientSession(timeout=timeout) as probes,
    ):
        if not settings.rate:
            say(f"measuring the end-to-end maximum: {settings.ramp_s:.0f} s at 64 in flight")
            maximum = await end_to_end_maximum(
                soak.smartico, posts, soak.mails, soak.stack.world, settings.ramp_s
            )
            rate = maximum / 2
            how = (
                f"half the end-to-end maximum of {maximum:.1f}/s measured first "
                f"({settings.ramp_s:.0f} s at 64 in flight)"
            )
            await soak.drain(probes, within_s=300)
        say(
            f"soak: {settings.minutes} min at {rate:.1f} e-mails/s ({how}); warm-up "
            f"{settings.warmup} min"
        )
        stream_task = asyncio.create_task(soak.smartico.run(posts, settings.minutes * 60, rate))
        try:
            start = time.monotonic()
            samples.append(await soak.sample(probes, 0))
            for minute in range(1, settings.minutes + 1):
                await asyncio.sleep(max(0.0, start + 60 * minute - time.monotonic()))
                samples.append(await soak.sample(probes, minute))
                baseline = samples[settings.warmup] if minute >= settings.warmup else None
                print(
                    minute_table(samples[-1], baseline, settings.minutes, samples[-2]),
                    flush=True,
                )
            await stream_task
        finally:
            stream_task.cancel()  # interrupted: stop posting before the sessions close
        say(f"stream stopped; up to {settings.drain_s:.0f} s for the rest to arrive")
        return rate, how, await soak.drain(probes, settings.drain_s)


async def run(settings: Settings) -> int:
    shutil.rmtree(OUT / "logs", ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    mails = CountingSmtpHandler()
    smtp, smtp_port = await smtp_server(mails)
    began = datetime.now(UTC)
    samples: list[Sample] = []
    final_lag: dict[str, list[int]] = {}
    aborted = ""
    rate, how = settings.rate or 0.0, "SOAK_RATE"
    try:
        async with running_gateway("soak", OUT, smtp_port) as stack:
            stream = await players_and_stream(stack.ports, stack.env, stack.world)
            smartico = Smartico(stream.intake, stream.secret, stream.callback_url)
            soak = Soak(stack, mails, smartico)
            rate, how, final_lag = await soak_for(settings, soak, samples)
    except ServiceExited as exc:
        aborted = str(exc)
    finally:
        smtp.close()

    counts = soak.counts()
    found = findings(samples, settings.warmup, final_lag, counts) if samples else []
    if aborted:
        found.insert(0, growth.Finding("gateway", "process", aborted))
    report = Run(
        title=f"Soak, {began:%Y-%m-%d %H:%M} UTC",
        settings=[
            f"machine: {machine()}, load average at the end {os.getloadavg()[0]:.1f}",
            f"{len(samples) - 1} minutes (SOAK_MINUTES={settings.minutes}) at {rate:.1f} "
            f"e-mails/s: {how}; at most 64 in flight",
            f"warm-up: the first {settings.warmup} minutes at that rate (after the measuring "
            "burst); the level after warm-up is the sample at its end",
            f"every service of `make up` as a process: {', '.join(GATEWAY)}; logs in "
            "var/soak/logs/",
        ],
        counts=counts,
        findings=found,
        warmup=settings.warmup,
        final_lag=final_lag,
    )
    (OUT / "report.md").write_text(markdown(report, samples))
    say(f"report: {OUT / 'report.md'}")
    if found:
        say("soak FAILED:\n" + "\n".join(f"  {finding}" for finding in found))
        return 1
    say("soak passed: nothing grew without bound, nothing was lost")
    return 0


def say(text: str) -> None:
    print(f"[soak] {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(run(Settings.from_env())))
