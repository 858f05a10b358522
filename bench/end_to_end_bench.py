"""The whole gateway as a user measures it (issue #19): the local stack of `make up`, 1,000
players in the vault, E2E_MESSAGES (5,000) e-mails posted as Smartico does with 64 in flight,
mails counted at a real SMTP server and ``accepted`` callbacks at a real endpoint (both in a
process of their own, ``bench.e2e_sinks``).  The baseline is a raw aiosmtplib loop to the same
SMTP server in the same run.  Also: intake's answers while the pipeline runs, the latency from
intake's answer to the mail at the server (in the burst, and at half the measured maximum),
each service's memory, and the CPU each process spent per message (``bench.cpu_budget``),
written with the rest to var/bench/end-to-end.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib

from bench.common import (
    Row,
    bench_env,
    closed_loop,
    free_port,
    machine,
    row_from_loop,
)
from bench.cpu_budget import (
    OUTSIDE,
    CpuMeter,
    Idle,
    budget_table,
    gateway_net_ms,
    postmaster_pid,
)
from bench.profiles import Profiler
from bench.soak.probes import rss_bytes
from bench.stack import Stack, running_gateway
from shared.domain import ErrorCode
from tests.support.databases import ADMIN_DSN

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench" / "end-to-end"
MESSAGES = int(os.environ.get("E2E_MESSAGES") or 5000)
PLAYERS = 1000
IN_FLIGHT = 64
HALF_RATE_S = 20.0
IDLE_S = 5.0
PROFILE_S = float(os.environ.get("E2E_PROFILE") or 0)  # py-spy seconds per service
# E2E_SEAL_CONTENT=false: content travels unsealed, to price sealing (issue #15) in one run.
SEAL_CONTENT = os.environ.get("E2E_SEAL_CONTENT", "true")
ARRIVAL_TIMEOUT_S = 600.0
NAME = "end to end"


class Sinks:
    """The SMTP server and callback endpoint, a process of their own."""

    def __init__(self, api_key: str) -> None:
        self.smtp_port, self.http_port = free_port(), free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.e2e_sinks",
                str(self.smtp_port),
                str(self.http_port),
                api_key,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError("bench.e2e_sinks did not start: see its error above")

    @property
    def callback_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/smartico/callback"

    async def arrivals(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        async with http.get(f"http://127.0.0.1:{self.http_port}/arrivals") as response:
            return dict(await response.json())

    async def all_arrived(self, http: aiohttp.ClientSession, ids: set[str]) -> dict[str, Any]:
        """Waits until every id's mail and ``accepted`` callback arrived; their times."""
        deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
        while True:
            seen = await self.arrivals(http)
            if ids <= seen["mails"].keys() and ids <= seen["callbacks"].keys():
                return seen
            if time.monotonic() > deadline:
                missing = len(ids - seen["mails"].keys()), len(ids - seen["callbacks"].keys())
                raise RuntimeError(
                    f"after {ARRIVAL_TIMEOUT_S:.0f} s: {missing} (mails, callbacks) missing"
                )
            await asyncio.sleep(0.2)  # a polling interval: the figure is the arrival times

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Poster:
    """Smartico's side: e-mails to intake; when each was accepted."""

    def __init__(self, stack: Stack, callback_url: str) -> None:
        self.url = f"http://127.0.0.1:{stack.ports['intake']}/v1/email"
        self.headers = {"Authorization": stack.env["BLINDPOST_INTAKE_SECRETS"].split(",")[0]}
        self.callback_url = callback_url
        self.accepted_at: dict[str, float] = {}
        self.refused = 0
        self.n = 0

    async def post(self, http: aiohttp.ClientSession) -> None:
        self.n += 1
        body = {
            "ext_user_id": f"e2e-{self.n % PLAYERS}",
            "from_email_address": "Casino <noreply@casino.example>",
            "subject": "Your weekly bonus",
            "body": "<p>Hi, your bonus is waiting.</p>",
            "text_body": "Hi, your bonus is waiting.",
            "email_uid": f"e2e-{time.time_ns()}-{self.n}",
            "callback_url": self.callback_url,
        }
        async with http.post(self.url, json=body, headers=self.headers) as response:
            answer = await response.json()
        if answer["error_code"] == ErrorCode.ACCEPTED:
            self.accepted_at[answer["ext_message_id"]] = time.time()
        else:
            self.refused += 1

    async def burst(self, http: aiohttp.ClientSession, total: int) -> tuple[float, list[float]]:
        """``total`` posts, 64 in flight: (seconds, each answer's latency in ms)."""
        return await closed_loop(lambda: self.post(http), total=total, concurrency=IN_FLIGHT)

    async def steady(self, http: aiohttp.ClientSession, rate: float, seconds: float) -> None:
        """Posts at ``rate`` a second for ``seconds`` whatever the answers take (open loop)."""
        began, posts = time.perf_counter(), []
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
            posts.append(asyncio.create_task(self.post(http)))
        await asyncio.gather(*posts)


async def put_players(stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.ports['vault']}/v1/subjects/"
    headers = {"Authorization": f"Bearer {stack.env['BLINDPOST_VAULT_ADMIN_TOKEN']}"}
    players = iter(range(PLAYERS))

    async def put(http: aiohttp.ClientSession) -> None:
        for i in players:
            address = {"email": f"e2e.{i}@example.com"}
            async with http.put(f"{url}e2e-{i}", json=address, headers=headers) as response:
                assert response.status == 200, await response.text()

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(put(http) for _ in range(16)))


async def raw_smtp_loop(port: int, total: int) -> Row:
    """The baseline: as many mails straight to the same server, 64 in flight."""
    numbers = iter(range(total))

    async def send() -> None:
        message = EmailMessage()
        message["From"], message["To"] = "noreply@casino.example", "raw@example.com"
        message["Subject"] = "Your weekly bonus"
        message["Message-ID"] = f"<raw-{next(numbers)}@bench>"
        message.set_content("Hi, your bonus is waiting.")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=port)

    seconds, latencies = await closed_loop(send, total=total, concurrency=IN_FLIGHT)
    return row_from_loop(NAME, "raw aiosmtplib loop (baseline)", seconds, latencies)


def to_mail_ms(accepted_at: dict[str, float], mails: dict[str, float]) -> list[float]:
    return [(mails[mid] - at) * 1000 for mid, at in accepted_at.items() if mid in mails]


@dataclasses.dataclass(frozen=True)
class Burst:
    """One gateway's burst: the rows, the CPU budget table and profiles, and the two
    figures another benchmark compares (``bench.sealing_bench``)."""

    rows: list[Row]
    table: str
    profiles: str
    of_raw_loop: float
    gateway_net_ms: float


async def measure(
    stack: Stack,
    sinks: Sinks,
    http: aiohttp.ClientSession,
    *,
    seal: bool,
    half_rate: bool,
    profile_s: float,
) -> Burst:
    await put_players(stack)
    raw = await raw_smtp_loop(sinks.smtp_port, MESSAGES)
    warm = Poster(stack, sinks.callback_url)  # connections, caches, partitions assigned
    await warm.burst(http, 200)
    await sinks.all_arrived(http, set(warm.accepted_at))

    pids = {name: p.process.pid for name, p in stack.processes.items() if p.process}
    meter = CpuMeter.of(
        {
            **pids,
            f"{OUTSIDE}SMTP server and callback endpoint": sinks.process.pid,
            f"{OUTSIDE}Smartico's posts": os.getpid(),
        },
        await postmaster_pid(ADMIN_DSN),
    )
    resting = meter.read()
    await asyncio.sleep(IDLE_S)  # the idle rate, to take out of a slow burst's figures
    before, began = meter.read(), time.monotonic()
    idle = Idle.between(resting, before, IDLE_S)
    profiler = Profiler.start(pids, profile_s, OUT / "profiles") if profile_s else None
    poster = Poster(stack, sinks.callback_url)
    first_post = time.time()
    posting_s, answers_ms = await poster.burst(http, MESSAGES)
    seen = await sinks.all_arrived(http, set(poster.accepted_at))
    after, metered_s = meter.read(), time.monotonic() - began
    ids = poster.accepted_at.keys()
    last = max(max(seen["mails"][i] for i in ids), max(seen["callbacks"][i] for i in ids))
    e2e = Row(NAME, "POST → SMTP → accepted callback", len(ids), last - first_post)
    e2e = dataclasses.replace(
        e2e,
        note=f"{e2e.per_second / raw.per_second:.2f} of the raw loop; {poster.refused} refused; "
        f"mails repeated: {seen['mails_repeated']}; content sealed: {str(seal).lower()}",
    )
    rows = [
        e2e,
        raw,
        row_from_loop(NAME, "intake while the pipeline runs", posting_s, answers_ms),
        row_from_loop(
            NAME,
            "accepted → mail, in the burst",
            posting_s,
            to_mail_ms(poster.accepted_at, seen["mails"]),
            "ops/s: the posting rate",
        ),
    ]
    if half_rate:
        rows.append(await at_half_rate(stack, sinks, http, e2e.per_second / 2))
    rss = {name: rss_bytes(pid) for name, pid in pids.items()}
    largest = max(rss, key=lambda name: rss[name])
    rows.append(Row(NAME, "largest RSS of a service, MB", rss[largest] // 2**20, 1.0, note=largest))
    return Burst(
        rows,
        budget_table(before, after, len(ids), idle, metered_s),
        profiler.summary() if profiler else "",
        e2e.per_second / raw.per_second,
        gateway_net_ms(before, after, len(ids), idle, metered_s),
    )


async def at_half_rate(stack: Stack, sinks: Sinks, http: aiohttp.ClientSession, rate: float) -> Row:
    half = Poster(stack, sinks.callback_url)
    await half.steady(http, rate, HALF_RATE_S)
    seen = await sinks.all_arrived(http, set(half.accepted_at))
    return row_from_loop(
        NAME,
        "accepted → mail, half the maximum",
        HALF_RATE_S,
        to_mail_ms(half.accepted_at, seen["mails"]),
        f"{rate:.0f}/s for {HALF_RATE_S:.0f} s",
    )


async def measure_gateway(*, seal: bool, half_rate: bool = True, profile_s: float = 0.0) -> Burst:
    """A gateway started for this burst alone (content sealed or not), measured, stopped."""
    OUT.mkdir(parents=True, exist_ok=True)
    sinks = Sinks(bench_env()["BLINDPOST_CALLBACK_API_KEY"])
    try:
        allowed = f"http://127.0.0.1:{sinks.http_port}"
        async with (
            running_gateway(
                "e2e",
                OUT,
                sinks.smtp_port,
                BLINDPOST_CALLBACK_ALLOWED_HOSTS=allowed,
                BLINDPOST_INTAKE_SEAL_CONTENT=str(seal).lower(),
            ) as stack,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT)) as http,
        ):
            return await measure(
                stack, sinks, http, seal=seal, half_rate=half_rate, profile_s=profile_s
            )
    finally:
        sinks.stop()


async def run() -> list[Row]:
    burst = await measure_gateway(seal=SEAL_CONTENT != "false", profile_s=PROFILE_S)
    report = (
        f"End to end, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {machine()}\n\n"
        f"CPU per message over the burst of {MESSAGES} e-mails:\n\n{burst.table}\n"
    )
    if burst.profiles:
        report += (
            f"\nWhere the first {PROFILE_S:.0f} s of the burst went (py-spy):\n\n{burst.profiles}\n"
        )
    (OUT.parent / "end-to-end.md").write_text(report)
    print(report, flush=True)
    return burst.rows
