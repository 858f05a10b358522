"""Intake under load: requests/s and p50/p99 at a fixed concurrency against the real stack
(intake in its own process, `blindpost run intake`, on the real Kafka broker and
PostgreSQL), beside a bare aiohttp JSON handler in its own process, driven by the same
client in the same run.

Every intake request is a new message for a known subject (a directory hit), answered 0
only after Kafka acknowledged its event with acks=all.  Measured twice: content as it came,
and content sealed under the player's key from a vault in its own process (2,000 players
drawn at random, so most keys come from intake's few-second cache; a campaign to distinct
players would ask the vault for nearly every message).

    python -m bench intake          (BENCH_INTAKE_REQUESTS, BENCH_INTAKE_CONCURRENCY)
"""

from __future__ import annotations

import os
import random
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg

from bench.common import (
    Row,
    bench_env,
    closed_loop,
    delete_topics_with_prefix,
    drop_database,
    eventually,
    free_port,
    row_from_loop,
    scratch_database,
)
from bench.script_server import start_script, stop_script
from services.intake.app import INTAKE_TOPICS
from shared.domain import Channel
from shared.kafka import ensure_topics, start_producer
from shared.subject_facts import SubjectFacts
from shared.topics import Topics
from tests.support.processes import ServiceProcess

REQUESTS = int(os.environ.get("BENCH_INTAKE_REQUESTS", "20000"))
CONCURRENCY = int(os.environ.get("BENCH_INTAKE_CONCURRENCY", "64"))
WARM_UP = 1000
SUBJECTS = 2000

# The baseline: what aiohttp alone costs for a JSON request and a JSON answer, with the
# same event loop intake uses.
BARE_SERVER = """
import json, sys, uuid
import uvloop
from aiohttp import web

async def handle(request):
    body = json.loads(await request.read())
    return web.json_response({"error_code": 0, "ext_message_id": str(uuid.uuid4()), "n": len(body)})

app = web.Application()
app.router.add_post("/v1/sms", handle)
app.router.add_get("/readyz", lambda request: web.json_response({"status": "ready"}))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
            loop=uvloop.new_event_loop())
"""


async def _publish_subjects(bootstrap: str, topics: Topics) -> list[str]:
    users = [f"bench-{i}-{uuid.uuid4().hex[:6]}" for i in range(SUBJECTS)]
    producer = await start_producer(bootstrap)
    try:
        for user in users:
            facts = SubjectFacts(
                ext_user_id=user,
                channels=frozenset({Channel.SMS, Channel.EMAIL}),
                updated_at=datetime.now(UTC),
            )
            await producer.send(topics.subject_facts, facts.to_bytes(), key=user.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return users


async def _wait_for_directory(dsn: str, count: int) -> None:
    conn = await asyncpg.connect(dsn)

    async def filled() -> bool:
        return bool(await conn.fetchval("SELECT count(*) FROM intake_directory") >= count)

    try:
        await eventually(filled, within=30, what="the directory to fill")
    finally:
        await conn.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU the process used so far: a figure the rest of a busy machine does
    not distort the way it distorts requests/s."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _load(
    url: str, secret: str, users: list[str], total: int, server_pid: int
) -> tuple[float, list[float], dict[int, int], float]:
    codes: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            body = {
                "ext_user_id": random.choice(users),
                "from_number": "Amazing",
                "body": "Best offer ever: 50 free spins on Friday",
                "im_uid": uuid.uuid4().hex,
                "callback_url": "https://api.smartico.ai/callback",
            }
            async with session.post(url, json=body, headers={"Authorization": secret}) as resp:
                answer = await resp.json()
            codes[answer["error_code"]] = codes.get(answer["error_code"], 0) + 1

        await closed_loop(one, total=WARM_UP, concurrency=CONCURRENCY)
        codes.clear()
        cpu_before = _cpu_seconds(server_pid)
        seconds, latencies = await closed_loop(one, total=total, concurrency=CONCURRENCY)
        cpu_us = (_cpu_seconds(server_pid) - cpu_before) / total * 1e6
    return seconds, latencies, codes, cpu_us


async def _intake_row(env: dict[str, str], users: list[str], name: str, sealed: bool) -> Row:
    """One intake process, sealing content or not, under the same load."""
    port = free_port()
    intake = ServiceProcess(
        "intake",
        {
            **env,
            "BLINDPOST_INTAKE_PORT": str(port),
            "BLINDPOST_INTAKE_SEAL_CONTENT": str(sealed).lower(),
        },
        port,
        Path(env["BLINDPOST_VAR_DIR"]) / f"intake-sealed-{sealed}.log",
    )
    try:
        await intake.start()
        await _wait_for_directory(env["DATABASE_URL"], len(users))
        assert intake.process is not None
        seconds, latencies, codes, cpu_us = await _load(
            f"http://127.0.0.1:{port}/v1/sms",
            env["BLINDPOST_INTAKE_SECRETS"].split(",")[0],
            users,
            REQUESTS,
            intake.process.pid,
        )
    finally:
        intake.stop()
    accepted = codes.get(0, 0)
    return row_from_loop(
        "intake",
        name,
        seconds,
        latencies,
        f"concurrency {CONCURRENCY}, same client; server CPU {cpu_us:.0f} us/request; "
        f"{accepted}/{REQUESTS} accepted" + ("" if accepted == REQUESTS else f", codes {codes}"),
    )


async def run() -> list[Row]:
    env = bench_env()
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    topics = Topics(f"bench{uuid.uuid4().hex[:8]}.")
    await ensure_topics(bootstrap, topics, INTAKE_TOPICS)
    db_name, dsn = await scratch_database("intake")
    vault_db, vault_dsn = await scratch_database("intake_vault", "blindpost_vault")
    secret = env["BLINDPOST_INTAKE_SECRETS"].split(",")[0]
    vault_port, bare_port = free_port(), free_port()
    env.pop("BLINDPOST_VAULT_OWNER_DATABASE_URL", None)  # the scratch database's role migrates
    env.update(
        {
            "DATABASE_URL": dsn,
            "BLINDPOST_VAULT_DATABASE_URL": vault_dsn,
            "BLINDPOST_VAULT_PORT": str(vault_port),
            "BLINDPOST_VAULT_URL": f"http://127.0.0.1:{vault_port}",
            "BLINDPOST_TOPIC_PREFIX": topics.prefix,
            "BLINDPOST_LOG_LEVEL": "WARNING",
            "BLINDPOST_VAR_DIR": tempfile.mkdtemp(prefix="bench-intake-"),
        }
    )
    logs = Path(env["BLINDPOST_VAR_DIR"])
    # The content keys' vault, as deployed: its own process.
    vault = ServiceProcess("vault", env, vault_port, logs / "vault.log")
    bare = start_script(BARE_SERVER, bare_port)
    rows: list[Row] = []
    try:
        await vault.start()
        users = await _publish_subjects(bootstrap, topics)

        seconds, latencies, _, cpu_us = await _load(
            f"http://127.0.0.1:{bare_port}/v1/sms", secret, users, REQUESTS, bare.pid
        )
        rows.append(
            row_from_loop(
                "intake",
                "baseline: bare aiohttp JSON handler",
                seconds,
                latencies,
                f"concurrency {CONCURRENCY}, same client; server CPU {cpu_us:.0f} us/request",
            )
        )
        rows.append(await _intake_row(env, users, "POST /v1/sms, acked by Kafka", False))
        name = "POST /v1/sms, content sealed (vault key), acked by Kafka"
        rows.append(await _intake_row(env, users, name, True))
    finally:
        vault.stop()
        stop_script(bare)
        await drop_database(db_name)
        await drop_database(vault_db)
        await delete_topics_with_prefix(bootstrap, topics.prefix)
    return rows
