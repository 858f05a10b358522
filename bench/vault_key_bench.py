"""Vault benchmark: players' content keys handed out (``POST /v1/content-keys``) as intake
and a dispatcher ask for them: batches, at most one call in flight per client process, each
key unwrapped and audited (its row committed in the hash chain before the answer, then
published to the audit topic).  The vault's own CPU per key is the figure that counts on the
shared cores (it includes publishing the audit facts: the relay is waited for).  Baseline
from the same run: the same keys read by id in batches, unaudited."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import asyncpg

from bench.common import Row, closed_loop, eventually, row_from_loop
from bench.cpu_budget import process_seconds

PLAYERS = 1000
KEY_BATCH = 100
KEY_BATCHES = 60  # of KEY_BATCH keys; as many keys in smaller batches
SMALL_BATCH = 10  # as a dispatcher asks at a slower pace: the per-call part shows
CLIENTS = 2  # intake and one dispatcher, each with one call in flight (shared/content_keys.py)


async def relay_caught_up(dsn: str) -> None:
    """Until every committed audit row is on the audit topic (the relay's CPU counts)."""
    conn = await asyncpg.connect(dsn)
    try:

        async def published() -> bool:
            lag = await conn.fetchval(
                "SELECT (SELECT last_seq FROM audit_head WHERE id)"
                " - (SELECT published_seq FROM audit_relay WHERE id)"
            )
            return bool(lag == 0)

        await eventually(published, within=60, what="the audit relay caught up", interval=0.05)
    finally:
        await conn.close()


def per_key(
    subject: str, seconds: float, latencies: list[float], note: str, batch: int = KEY_BATCH
) -> Row:
    """A row counting keys (a batch's latency is per batch)."""
    batches = row_from_loop("vault content keys", subject, seconds, latencies)
    return Row(
        batches.benchmark,
        subject,
        len(latencies) * batch,
        seconds,
        batches.p50_ms,
        batches.p99_ms,
        note,
    )


async def bench_content_keys(
    http: aiohttp.ClientSession, base_url: str, token: str, vault_pid: int, dsn: str
) -> list[Row]:
    url = f"{base_url}/v1/content-keys"
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(11)
    players = [f"bench-{n}" for n in range(PLAYERS)]
    key_ids: dict[str, str] = {}

    async def call(body: Mapping[str, object]) -> list[dict[str, object]]:
        async with http.post(url, json=body, headers=headers) as response:
            assert response.status == 200, response.status
            keys: list[dict[str, object]] = (await response.json())["keys"]
        assert all(key["status"] == "ok" for key in keys), keys[:1]
        return keys

    async def seal() -> None:
        body = {"purpose": "content-seal", "ext_user_ids": rng.sample(players, KEY_BATCH)}
        for key in await call(body):
            key_ids[str(key["ext_user_id"])] = str(key["key_id"])

    def sealed_sample(size: int = KEY_BATCH) -> list[tuple[str, str]]:
        return [(user, key_ids[user]) for user in rng.sample(sorted(key_ids), size)]

    async def render(size: int = KEY_BATCH) -> None:
        asked = [{"ext_user_id": user, "key_id": key_id} for user, key_id in sealed_sample(size)]
        await call({"purpose": "content-render", "keys": asked})

    async def render_small() -> None:
        await render(SMALL_BATCH)

    for start in range(0, PLAYERS, KEY_BATCH):  # every player's key made before measuring
        await call({"purpose": "content-seal", "ext_user_ids": players[start : start + KEY_BATCH]})
    await seal()
    await relay_caught_up(dsn)

    async def measured(
        operation: Callable[[], Awaitable[None]], subject: str, batch: int = KEY_BATCH
    ) -> Row:
        calls = KEY_BATCHES * KEY_BATCH // batch
        cpu = process_seconds(vault_pid)
        seconds, latencies = await closed_loop(operation, total=calls, concurrency=CLIENTS)
        await relay_caught_up(dsn)
        cpu_ms = (process_seconds(vault_pid) - cpu) * 1000 / (calls * batch)
        note = f"ops = keys (each audited); latency per batch; vault CPU {cpu_ms:.3f} ms/key"
        return per_key(subject, seconds, latencies, note, batch)

    rows = [
        await measured(seal, f"content-seal, batches of {KEY_BATCH}"),
        await measured(render, f"content-render by id, batches of {KEY_BATCH}"),
        await measured(
            render_small, f"content-render by id, batches of {SMALL_BATCH}", SMALL_BATCH
        ),
    ]

    # Baseline: the same keys selected by id in batches, no HTTP, no unwrap, no audit.
    pool = await asyncpg.create_pool(dsn, min_size=CLIENTS, max_size=CLIENTS)
    try:

        async def plain() -> None:
            await pool.fetch(
                "SELECT ext_user_id, key_id, wrapped_key FROM content_keys"
                " WHERE key_id = ANY($1::text[])",
                [key_id for _, key_id in sealed_sample()],
            )

        seconds, latencies = await closed_loop(plain, total=KEY_BATCHES, concurrency=CLIENTS)
        note = f"asyncpg pool in-process, batches of {KEY_BATCH}, same concurrency"
        rows.append(per_key("baseline: unaudited SELECT by id", seconds, latencies, note))
    finally:
        await pool.close()
    return rows
