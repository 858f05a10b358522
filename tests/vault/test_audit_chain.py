"""The audit log is append-only and tamper-evident: `blindpost audit verify` passes an
intact chain and names the first bad row after an edit, a deletion, a reordering or a cut
tail, even when a superuser recomputed every hash and the head (the signed checkpoints and
the facts on Kafka still hold the old ones); the runtime role cannot touch a row; `blindpost
audit pii` answers who read a player's data, when and why."""

from __future__ import annotations

import csv
import io
import json

import asyncpg
import pytest

from services.vault.audit import GENESIS, chain_hash
from services.vault.audit_ops import prune_audit
from services.vault.audit_store import entry_of
from services.vault.checkpoints import CheckpointKeys
from tests.support.leaks import hits
from tests.support.polling import eventually
from tests.support.processes import run_cli

# As a superuser (who can do anything) would, bypassing the append-only trigger.
TAMPER = {
    "edited": "UPDATE audit_log SET purpose = 'marketing' WHERE seq = 5",
    "deleted": "DELETE FROM audit_log WHERE seq = 5",
    "reordered": """UPDATE audit_log SET seq = -1 WHERE seq = 5;
                    UPDATE audit_log SET seq = 5 WHERE seq = 6;
                    UPDATE audit_log SET seq = 6 WHERE seq = -1""",
}


async def make_history(vault) -> None:
    await vault.put("p1", {"email": "ada@example.org", "phone": "+44 7911 123456"})
    for channel in ("email", "sms", "email", "viber", "email", "sms"):
        await vault.resolve_one("p1", channel)
    await vault.call("GET", "/v1/subjects/p1", "auditor")  # refused, audited too


async def tamper(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
            await conn.execute(sql)
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
    finally:
        await conn.close()


async def rewrite_history(dsn: str, sql: str) -> None:
    """Tamper, then recompute every row's hash and the head, as a careful superuser would:
    the chain alone then verifies."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
            await conn.execute("ALTER TABLE audit_head DISABLE TRIGGER USER")
            await conn.execute(sql)
            previous = GENESIS
            for row in await conn.fetch("SELECT * FROM audit_log ORDER BY seq"):
                row_hash = chain_hash(previous, row["seq"], entry_of(row))
                await conn.execute(
                    "UPDATE audit_log SET prev_hash = $2, row_hash = $3 WHERE seq = $1",
                    row["seq"],
                    previous,
                    row_hash,
                )
                previous = row_hash
            await conn.execute("UPDATE audit_head SET last_hash = $1", previous)
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
            await conn.execute("ALTER TABLE audit_head ENABLE TRIGGER USER")
    finally:
        await conn.close()


async def published_and_checkpointed(dsn: str) -> None:
    """Wait until every row is on Kafka and the head is signed."""
    conn = await asyncpg.connect(dsn)

    async def done() -> bool:
        head = await conn.fetchval("SELECT last_seq FROM audit_head")
        published = await conn.fetchval("SELECT published_seq FROM audit_relay")
        signed = await conn.fetchval("SELECT max(seq) FROM audit_checkpoints")
        return head == published == signed

    try:
        await eventually(done, within=20, what="audit rows published and checkpointed")
    finally:
        await conn.close()


@pytest.fixture
def vault_env(vault_env: dict[str, str]) -> dict[str, str]:
    return {**vault_env, "BLINDPOST_VAULT_AUDIT_CHECKPOINT_INTERVAL_S": "0.2"}


def verify(vault_env: dict[str, str], *flags: str, exit_code: int) -> str:
    """`blindpost audit verify`'s report, once it exited as expected."""
    done = run_cli(vault_env, "audit", "verify", *flags)
    assert done.returncode == exit_code, done.stdout + done.stderr
    return done.stdout


async def test_the_runtime_role_may_only_append(vault, vault_dsn):
    await make_history(vault)
    conn = await asyncpg.connect(vault_dsn)
    try:
        owners = await conn.fetch(
            "SELECT tableowner FROM pg_tables WHERE tablename LIKE 'audit%' AND tableowner = "
            "current_user"
        )
        assert owners == []
        for sql in (
            "UPDATE audit_log SET purpose = 'x'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
            "ALTER TABLE audit_log DISABLE TRIGGER USER",
            "UPDATE audit_checkpoints SET seq = 0",
            "DELETE FROM audit_checkpoints",
            "UPDATE audit_anchor SET seq = 0",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
        # Its head moves forward only.
        with pytest.raises(asyncpg.RaiseError, match="only moves forward"):
            await conn.execute("UPDATE audit_head SET last_seq = 1, row_count = 1")
    finally:
        await conn.close()


async def test_the_log_refuses_updates_and_deletes(vault, vault_owner_dsn):
    """Even to its owner, while the trigger is on."""
    await make_history(vault)
    conn = await asyncpg.connect(vault_owner_dsn)
    try:
        for sql in (
            "UPDATE audit_log SET purpose = 'x'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(sql)
    finally:
        await conn.close()


async def test_a_rewritten_chain_is_caught_by_the_published_facts(
    vault, vault_env, vault_superuser_dsn
):
    await make_history(vault)
    await published_and_checkpointed(vault_superuser_dsn)
    await rewrite_history(vault_superuser_dsn, "UPDATE audit_log SET purpose = 'x' WHERE seq = 5")
    # The chain alone holds: every hash was recomputed.
    assert (
        "intact" in run_cli(vault_env, "audit", "verify", "--no-kafka", "--no-checkpoints").stdout
    )
    report = verify(vault_env, exit_code=1)
    assert "BROKEN at row seq=5" in report
    assert "differs from the fact published to Kafka (edited)" in report
    assert "signed checkpoint" in report


async def test_a_rewritten_chain_is_caught_by_the_checkpoints_alone(
    vault, vault_env, vault_superuser_dsn
):
    await make_history(vault)
    await published_and_checkpointed(vault_superuser_dsn)
    await rewrite_history(vault_superuser_dsn, "UPDATE audit_log SET purpose = 'x' WHERE seq = 5")
    assert "does not match the signed checkpoint" in verify(vault_env, "--no-kafka", exit_code=1)


async def test_an_intact_chain_verifies(vault, vault_env):
    await make_history(vault)
    assert "intact: 8 rows" in verify(vault_env, exit_code=0)


@pytest.mark.parametrize("how", list(TAMPER))
async def test_tampering_is_detected_at_the_first_bad_row(
    vault, vault_env, vault_superuser_dsn, how
):
    await make_history(vault)
    await tamper(vault_superuser_dsn, TAMPER[how])
    assert "BROKEN at row seq=5" in verify(vault_env, exit_code=1)


async def test_deleting_the_newest_rows_is_detected(vault, vault_env, vault_superuser_dsn):
    await make_history(vault)
    await tamper(vault_superuser_dsn, "DELETE FROM audit_log WHERE seq >= 7")
    assert "ends after 6 rows but its head records 8" in verify(vault_env, exit_code=1)


async def test_the_auditor_report_says_who_read_what_when_and_why(vault, vault_env):
    await make_history(vault)
    await vault.put("someone-else", {"email": "other@example.org"})
    as_json = run_cli(vault_env, "audit", "pii", "--user", "p1", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    reads = [r for r in rows if r["decision"] == "read"]
    assert len(reads) == 6 and all(
        r["purpose"] == "dispatch" and r["ext_message_id"] for r in reads
    )
    assert {tuple(r["fields"]) for r in reads} == {("email",), ("phone",)}
    assert {r["ext_user_id"] for r in rows} == {"p1"}
    # Whole needles: a short one ("7911") can turn up in a random id or a hash.
    assert hits(as_json.stdout, ["ada@example.org", "7911123456", "7911 123456"]) == []

    as_csv = run_cli(
        vault_env, "audit", "pii", "--user", "p1", "--since", "2000-01-01", "--format", "csv"
    )
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    # The first report was itself audited: the second one lists it.
    assert [r["decision"] for r in table] == [r["decision"] for r in rows] + ["audit_read"]
    assert {"at", "caller", "purpose", "fields", "ext_message_id"} <= set(table[0])
    later = run_cli(
        vault_env, "audit", "pii", "--user", "p1", "--since", "2999-01-01", "--format", "json"
    )
    assert json.loads(later.stdout) == []
    # The report itself is audited, and the chain still verifies.
    assert "intact" in run_cli(vault_env, "audit", "verify").stdout


async def test_pruning_keeps_the_chain_verifiable_from_a_checkpoint(
    vault, vault_env, vault_dsn, vault_owner_dsn, vault_superuser_dsn
):
    await make_history(vault)
    await published_and_checkpointed(vault_superuser_dsn)
    keys = CheckpointKeys.parse(vault_env["BLINDPOST_VAULT_AUDIT_PUBLIC_KEYS"].split(","))
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await prune_audit(vault_dsn, keys, 0, "runtime")
    pruned = await prune_audit(vault_owner_dsn, keys, 0, "test")
    assert (pruned.rows, pruned.through_seq) == (8, 8)
    await vault.resolve_one("p1", "email")
    # The prune's own row, and the read after it.
    assert "intact: 2 rows" in verify(vault_env, exit_code=0)
    # A starting point no checkpoint signed is a break.
    await tamper(vault_superuser_dsn, "UPDATE audit_anchor SET hash = sha256('forged')")
    assert "matches no signed checkpoint" in verify(vault_env, "--no-kafka", exit_code=1)


async def test_the_report_filters_across_players_and_streams_with_progress(vault, vault_env):
    await make_history(vault)
    await vault.put("someone-else", {"email": "other@example.org"})
    await vault.resolve_one("someone-else", "email")
    done = run_cli(
        vault_env,
        "audit", "pii", "--principal", "resolver", "--purpose", "dispatch",
        "--decision", "read", "--since", "2000-01-01T00:00+00:00",
        "--until", "2999-01-01T00:00+00:00", "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 7 and {r["ext_user_id"] for r in rows} == {"p1", "someone-else"}
    assert {(r["caller"], r["purpose"], r["decision"]) for r in rows} == {
        ("resolver", "dispatch", "read")
    }
    assert "audit pii" in done.stderr and "7/7" in done.stderr  # the progress bar
    # The report itself is audited, with the filters it used.
    audited = json.loads(
        run_cli(
            vault_env, "audit", "pii", "--decision", "audit_read", "--format", "json",
            "--no-progress",
        ).stdout
    )  # fmt: skip
    assert [r["detail"] for r in audited] == [
        "principal=resolver purpose=dispatch decision=read since=2000-01-01T00:00:00+00:00 "
        "until=2999-01-01T00:00:00+00:00"
    ]
    nothing = run_cli(vault_env, "audit", "pii", "--until", "2000-01-01", "--no-progress")
    assert nothing.stdout.splitlines()[1:] == [] and "seq,at,caller" in nothing.stdout
