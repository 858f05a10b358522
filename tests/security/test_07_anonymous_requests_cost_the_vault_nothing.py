"""Issue #16 item 7: a request without a valid token writes nothing of its own (no audit row,
no Kafka fact, no wait on the chain head): refusals are counted, audited as one row per
interval, and beyond a rate answered 429.  A path's ext_user_id is validated and bounded
before anything records it."""

from __future__ import annotations

import asyncio
import re

import asyncpg

from tests.support.polling import eventually
from tests.vault.support import running_vault


async def _rows(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch("SELECT * FROM audit_log ORDER BY seq")
    finally:
        await conn.close()


def _counted(rows: list[asyncpg.Record]) -> int:
    return sum(
        int(n)
        for r in rows
        for n in re.findall(r"=(\d+)", r["detail"] or "")
        if r["decision"] == "refused_unauthenticated"
    )


async def test_anonymous_refusals_are_audited_in_aggregate_and_rate_limited(
    vault_env, vault_dsn, topics
):
    env = {
        **vault_env,
        "BLINDPOST_VAULT_ANONYMOUS_AUDIT_INTERVAL_S": "0.5",
        "BLINDPOST_VAULT_ANONYMOUS_RATE_PER_S": "5",
    }
    async with running_vault(env) as vault:
        answers = await asyncio.gather(
            *(
                vault.call("GET", f"/v1/subjects/u{n}", scope)
                for n in range(40)
                for scope in (None, "bogus")
            )
        )
        statuses = [status for status, _ in answers]
        assert set(statuses) == {401, 429} and statuses.count(429) > 40
        await eventually(
            lambda: _counted_all(vault_dsn, len(answers)), within=10, what="every refusal counted"
        )
        rows = await _rows(vault_dsn)
        assert len(rows) <= 3, [r["detail"] for r in rows]
        assert all(r["ext_user_id"] is None and r["scope"] == "none" for r in rows)


async def _counted_all(dsn: str, expected: int) -> bool:
    return _counted(await _rows(dsn)) == expected


async def test_a_bad_path_segment_is_refused_before_it_is_stored(vault, vault_dsn):
    for bad in ("x" * 300, "a%01b", "%0A"):
        status, _ = await vault.call("GET", f"/v1/subjects/{bad}", "admin")
        assert status == 400, bad
        status, _ = await vault.call("GET", f"/v1/subjects/{bad}", "auditor")
        assert status == 403, bad
    rows = await _rows(vault_dsn)
    assert len(rows) == 6
    assert all(r["ext_user_id"] is None for r in rows)
    assert {r["decision"] for r in rows} == {"refused_invalid", "refused_scope"}
