"""The bounce receiver: DSNs received, parsed and recorded per second.

Rows, each against its own process on this machine, with the same client (``CONNECTIONS``
reused SMTP connections, the null sender, one DSN of a real MTA's shape per message):

- baseline: a raw aiosmtpd loop (``blindpost run smtp-sink`` storing nothing: accept, 250);
- the bounce receiver process: the RCPT check (VERP tag), the DSN read, a ``status.reported``
  event acknowledged by Kafka before the 250;
- the reader alone, in this process (``read_report`` + the event), for the CPU it costs.

    python -m bench bounce        (BENCH_BOUNCE_DSNS, default 3000)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiosmtplib

from bench.common import Row, closed_loop, delete_topics_with_prefix, free_port, row_from_loop
from services.bounce.outcomes import events_for
from services.bounce.reports import read_report
from shared.verp import BounceAddresses
from tests.bounce.samples import dsn
from tests.support.env import local_env
from tests.support.processes import ServiceProcess

DSNS = int(os.environ.get("BENCH_BOUNCE_DSNS", "3000"))
CONNECTIONS = 16
ROUNDS = 3
NOTE = f"median of {ROUNDS} rounds, alternating (the machine is shared)"


async def _smtp_loop(port: int, mails: list[tuple[str, bytes]]) -> tuple[float, list[float]]:
    clients = []
    for _ in range(CONNECTIONS):
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        clients.append(client)
    idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
    for client in clients:
        idle.put_nowait(client)
    queue = iter(mails)

    async def send() -> None:
        to, data = next(queue)
        client = await idle.get()
        try:
            await client.sendmail("", [to], data)
        finally:
            idle.put_nowait(client)

    try:
        return await closed_loop(send, total=len(mails), concurrency=CONNECTIONS)
    finally:
        for client in clients:
            await client.quit()


def _parse_only(mails: list[tuple[str, bytes]]) -> tuple[float, list[float]]:
    latencies = []
    started = time.perf_counter()
    for _to, data in mails:
        begun = time.perf_counter()
        report = read_report(data)
        assert report is not None
        events_for(uuid.uuid4(), report)
        latencies.append((time.perf_counter() - begun) * 1000)
    return time.perf_counter() - started, latencies


async def run() -> list[Row]:
    env = local_env()
    env.update({k: v for k, v in os.environ.items() if k.startswith(("BLINDPOST_", "KAFKA_"))})
    prefix = f"benchbounce{uuid.uuid4().hex[:8]}."
    sink_smtp, sink_ops, bounce_smtp, bounce_ops = (free_port() for _ in range(4))
    logs = Path(tempfile.mkdtemp(prefix="bench-bounce-"))
    env.update(
        {
            "BLINDPOST_TOPIC_PREFIX": prefix,
            "BLINDPOST_KAFKA_CREATE_TOPICS": "true",
            "BLINDPOST_LOG_LEVEL": "WARNING",
            "BLINDPOST_SMTP_PORT": str(sink_smtp),
            "BLINDPOST_SMTP_SINK_PORT": str(sink_ops),
            "BLINDPOST_SMTP_SINK_STORE": "none",
            "BLINDPOST_BOUNCE_SMTP_PORT": str(bounce_smtp),
            "BLINDPOST_BOUNCE_RECEIVER_PORT": str(bounce_ops),
            "BLINDPOST_VAR_DIR": str(logs),
        }
    )
    verp = BounceAddresses.from_env(env).require()

    def mails() -> list[tuple[str, bytes]]:
        addresses = [verp.address(uuid.uuid4()) for _ in range(DSNS)]
        return [(to, dsn(to, "player@bench.example")) for to in addresses]

    sink = ServiceProcess("smtp-sink", env, sink_ops, logs / "smtp-sink.log")
    receiver = ServiceProcess("bounce-receiver", env, bounce_ops, logs / "bounce-receiver.log")
    raw: list[tuple[float, list[float]]] = []
    ours: list[tuple[float, list[float]]] = []
    try:
        await asyncio.gather(sink.start(), receiver.start(timeout_s=60))
        for _ in range(ROUNDS):
            raw.append(await _smtp_loop(sink_smtp, mails()))
            ours.append(await _smtp_loop(bounce_smtp, mails()))
    finally:
        sink.stop()
        receiver.stop()
        await delete_topics_with_prefix(env["KAFKA_BOOTSTRAP_SERVERS"], prefix)

    def median(runs: list[tuple[float, list[float]]]) -> tuple[float, list[float]]:
        middle = statistics.median(seconds for seconds, _ in runs)
        return next(run for run in runs if run[0] == middle)

    return [
        row_from_loop("bounce receiver", "baseline: raw aiosmtpd loop", *median(raw), NOTE),
        row_from_loop(
            "bounce receiver", "DSNs received, parsed, recorded", *median(ours), "event acked"
        ),
        row_from_loop("bounce receiver", "DSN reader alone (in process)", *_parse_only(mails())),
    ]
