"""Vault benchmarks: audited contact reads per second (single and batched, over HTTP, each
read decrypted and written to the hash-chained audit log in its own transaction), content
keys handed out (bench/vault_key_bench.py), and bulk import throughput.  Baselines from the
same run: an unaudited primary-key SELECT of the same rows, and a plain COPY of the same
number of rows."""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg

from bench.common import (
    Row,
    bench_env,
    closed_loop,
    delete_topics_with_prefix,
    drop_database,
    free_port,
    row_from_loop,
    scratch_database,
)
from bench.vault_key_bench import bench_content_keys
from services.vault.app import MIGRATION_TABLE, MIGRATIONS, keys_from
from services.vault.importer import import_file
from services.vault.publisher import KafkaPublisher
from services.vault.settings import VaultSettings
from shared.db import migrate_database
from shared.domain import Channel
from shared.kafka import ensure_topics, start_producer
from shared.tickets import TicketSigner, TicketSubject
from shared.topics import Topics
from tests.support.processes import ServiceProcess

IMPORT_SUBJECTS = int(os.environ.get("BLINDPOST_BENCH_VAULT_IMPORT", "30000"))
TARGET_SUBJECTS = 1_000_000
SINGLE_READS = 1500
BATCH = 100
BATCHES = 40
CONCURRENCY = 8
CHANNELS = (Channel.EMAIL, Channel.SMS)


def write_subjects(path: Path, count: int) -> None:
    with path.open("w") as out:
        for n in range(count):
            out.write(
                json.dumps(
                    {
                        "ext_user_id": f"bench-{n}",
                        "email": f"player.{n}@bench-example.org",
                        "phone": f"+4474{n % 100:02d}{n % 1_000_000:06d}",
                        "locale": "en",
                    }
                )
                + "\n"
            )


async def bench_import(settings: VaultSettings, dsn: str, path: Path) -> list[Row]:
    keyring, blind_index = keys_from(settings)
    producer = await start_producer(settings.kafka)
    try:
        publisher = KafkaPublisher(producer, settings.topics)
        started = time.perf_counter()
        report = await import_file(
            path,
            dsn=dsn,
            keyring=keyring,
            blind_index=blind_index,
            publisher=publisher,
            caller="bench",
            progress=False,
        )
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    assert report.imported == IMPORT_SUBJECTS, report.summary()
    rate = report.imported / seconds
    note = f"{report.imported // 1000}k subjects (validate, encrypt, COPY, facts to Kafka); " + (
        f"1M took {seconds / 60:.1f} min"
        if report.imported >= TARGET_SUBJECTS
        else f"1M extrapolated linearly: ~{TARGET_SUBJECTS / rate / 60:.1f} min "
        "(BLINDPOST_BENCH_VAULT_IMPORT=1000000 measures it)"
    )
    rows = [Row("vault import", "blindpost vault import", report.imported, seconds, note=note)]

    # Baseline: COPY of as many rows of the same width, no validation or crypto.
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TEMP TABLE copy_baseline (id text, a bytea, b bytea, c bytea)")
        records = [
            (f"bench-{n}", os.urandom(60), os.urandom(45), os.urandom(80))
            for n in range(IMPORT_SUBJECTS)
        ]
        started = time.perf_counter()
        await conn.copy_records_to_table("copy_baseline", records=records)
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    rows.append(Row("vault import", "baseline: plain COPY, same rows", IMPORT_SUBJECTS, seconds))
    return rows


async def bench_reads(env: dict[str, str], settings: VaultSettings, dsn: str) -> list[Row]:
    port = free_port()
    # The vault as in production: its own process (the load generator has this one).
    process = ServiceProcess(
        "vault",
        {**env, "BLINDPOST_VAULT_PORT": str(port), "BLINDPOST_LOG_LEVEL": "WARNING"},
        port,
        Path(tempfile.mkdtemp(prefix="bench-vault-")) / "vault.log",
    )
    await process.start()
    url = f"http://127.0.0.1:{port}/v1/contacts/resolve"
    headers = {"Authorization": f"Bearer {settings.secret('vault_resolver_token')}"}
    rows = []
    rng = random.Random(7)

    signer = TicketSigner.from_setting(
        env["BLINDPOST_INTAKE_TICKET_SIGNING_KEY"], 3600.0, "BLINDPOST_INTAKE_TICKET_SIGNING_KEY"
    )

    def signed() -> dict[str, str]:
        """A request as the resolver sends it, with the ticket intake signed for it."""
        subject = TicketSubject(
            uuid.uuid4(), f"bench-{rng.randrange(IMPORT_SUBJECTS)}", rng.choice(CHANNELS)
        )
        return {
            "ext_user_id": subject.ext_user_id,
            "channel": subject.channel.value,
            "ext_message_id": str(subject.ext_message_id),
            "ticket": signer.issue(subject),
        }

    # Signed before the clock starts: intake's work, not the vault's.
    signed_requests = iter(
        [signed() for _ in range(100 + SINGLE_READS + BATCHES * BATCH + CONCURRENCY * BATCH)]
    )

    def request() -> dict[str, str]:
        return next(signed_requests)

    try:
        async with aiohttp.ClientSession(headers=headers) as http:

            async def single() -> None:
                body = {"purpose": "dispatch", "requests": [request()]}
                async with http.post(url, json=body) as response:
                    assert response.status == 200
                    assert (await response.json())["results"][0]["status"] == "ok"

            async def batched() -> None:
                body = {"purpose": "dispatch", "requests": [request() for _ in range(BATCH)]}
                async with http.post(url, json=body) as response:
                    assert response.status == 200
                    await response.read()

            async def health() -> None:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    await response.read()

            async def measured(
                operation: Callable[[], Awaitable[None]], subject: str, note: str
            ) -> Row:
                seconds, latencies = await closed_loop(
                    operation, total=SINGLE_READS, concurrency=CONCURRENCY
                )
                return row_from_loop("vault audited reads", subject, seconds, latencies, note)

            await closed_loop(single, total=100, concurrency=CONCURRENCY)  # warm-up
            note = f"HTTP to the vault process, decrypt, audit row committed; c={CONCURRENCY}"
            rows.append(await measured(single, "single read per request", note))
            seconds, latencies = await closed_loop(batched, total=BATCHES, concurrency=CONCURRENCY)
            batched_row = row_from_loop(
                "vault audited reads", f"batches of {BATCH}", seconds, latencies
            )
            rows.append(
                Row(
                    batched_row.benchmark,
                    batched_row.subject,
                    BATCHES * BATCH,
                    seconds,
                    batched_row.p50_ms,
                    batched_row.p99_ms,
                    f"ops = contacts read (each audited); latency per batch; c={CONCURRENCY}",
                )
            )
            note = "the same HTTP path with no database at all"
            rows.append(await measured(health, "baseline: HTTP GET /healthz", note))
            content_token = settings.secret("vault_content_token")
            base_url = f"http://127.0.0.1:{port}"
            key_rows = await bench_content_keys(
                http, base_url, content_token, process.running_pid(), dsn
            )
    finally:
        process.stop()

    # Baseline: the same rows read by primary key, no HTTP, no decryption, no audit.
    pool = await asyncpg.create_pool(dsn, min_size=CONCURRENCY, max_size=CONCURRENCY)
    try:

        async def plain() -> None:
            await pool.fetchrow(
                "SELECT * FROM subjects WHERE ext_user_id = $1",
                f"bench-{rng.randrange(IMPORT_SUBJECTS)}",
            )

        seconds, latencies = await closed_loop(plain, total=SINGLE_READS, concurrency=CONCURRENCY)
        rows.append(
            row_from_loop(
                "vault audited reads",
                "baseline: unaudited SELECT by pk",
                seconds,
                latencies,
                "asyncpg pool in-process, same concurrency",
            )
        )
    finally:
        await pool.close()
    return rows + key_rows


async def run() -> list[Row]:
    env = bench_env()
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    name, dsn = await scratch_database("vault", "blindpost_vault")
    env.update({"BLINDPOST_VAULT_DATABASE_URL": dsn, "BLINDPOST_TOPIC_PREFIX": prefix})
    settings = VaultSettings.from_env(env)
    await ensure_topics(settings.kafka, Topics(prefix))
    try:
        await migrate_database(dsn, MIGRATIONS, MIGRATION_TABLE)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "subjects.jsonl"
            await asyncio.to_thread(write_subjects, path, IMPORT_SUBJECTS)
            rows = await bench_import(settings, dsn, path)
        rows = await bench_reads(env, settings, dsn) + rows
    finally:
        await drop_database(name)
        await delete_topics_with_prefix(settings.kafka.bootstrap_servers, prefix)
    return rows


if __name__ == "__main__":
    from bench.common import render

    print(render(asyncio.run(run())))
