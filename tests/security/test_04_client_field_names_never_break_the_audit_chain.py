"""Issue #16 item 4: a body key the vault does not know is refused without being audited (it
may be PII, and a name such as "" or one holding the old separator broke its row's hash for
ever); field names round-trip through the audit table exactly; `audit verify` names every
break, so one bad row cannot hide tampering further on."""

from __future__ import annotations

import asyncpg

from services.vault import audit_store
from services.vault.access import Caller, Scope, audit_entry
from services.vault.audit import Decision
from services.vault.audit_ops import verify_chain
from tests.support.processes import run_cli
from tests.vault.test_audit_chain import make_history, tamper

HOSTILE_KEYS = ["", "a\x1fb", "ada@example.org", "\x1f"]


async def test_unknown_keys_are_refused_unaudited_and_the_chain_still_verifies(
    vault, vault_env, vault_dsn
):
    for key in HOSTILE_KEYS:
        status, body = await vault.put("p1", {key: "x"})
        assert status == 400 and body["reason"] == "unknown field"
    done = run_cli(vault_env, "audit", "verify")
    assert done.returncode == 0, done.stdout
    assert f"intact: {len(HOSTILE_KEYS)} rows" in done.stdout
    conn = await asyncpg.connect(vault_dsn)
    try:
        stored = await conn.fetch("SELECT fields FROM audit_log ORDER BY seq")
    finally:
        await conn.close()
    assert [list(row["fields"]) for row in stored] == [["body"]] * len(HOSTILE_KEYS)


async def test_any_field_name_round_trips_through_the_audit_table(vault, vault_dsn):
    await vault.put("p1", {"email": "ada@example.org"})
    conn = await asyncpg.connect(vault_dsn)
    try:
        async with conn.transaction():
            entry = audit_entry(
                Caller("test", Scope.ADMIN, "r1"), Decision.READ, fields=("", "a\x1fb", "c")
            )
            await audit_store.append_audit(conn, [entry])
        stored = await conn.fetchval(
            "SELECT fields FROM audit_log WHERE audit_id = $1", entry.audit_id
        )
    finally:
        await conn.close()
    assert list(stored) == ["", "a\x1fb", "c"]
    assert (await verify_chain(vault_dsn)).ok


async def test_verify_reports_every_break_not_only_the_first(vault, vault_env, vault_dsn):
    await make_history(vault)
    await tamper(
        vault_dsn,
        "UPDATE audit_log SET purpose = 'marketing' WHERE seq = 3;"
        "UPDATE audit_log SET caller = 'nobody' WHERE seq = 6",
    )
    done = run_cli(vault_env, "audit", "verify")
    assert done.returncode == 1
    assert "BROKEN at row seq=3" in done.stdout, done.stdout
    assert "also BROKEN at row seq=6" in done.stdout, done.stdout
    assert "2 breaks in 8 rows" in done.stdout
