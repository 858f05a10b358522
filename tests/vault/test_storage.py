"""Encryption at rest against real PostgreSQL: what the tables hold, tampering, values moved
between subjects, KEK rotation with `blindpost vault rotate-kek`, and erasure."""

from __future__ import annotations

import asyncpg

from shared.subject_facts import SubjectFacts
from tests.support.kafka import read_topic
from tests.support.processes import run_cli
from tests.vault.support import kek_rotation_envs, running_vault

EMAIL, PHONE = "grizelda.umbermoss@example.net", "+35799654321"


async def fetch(dsn: str, query: str, *args):
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def execute(dsn: str, query: str, *args) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(query, *args)
    finally:
        await conn.close()


async def test_values_are_stored_only_as_ciphertext_and_round_trip(vault, vault_dsn):
    await vault.put("u1", {"email": EMAIL, "phone": PHONE, "whatsapp_id": "wa-3141"})
    row = (await fetch(vault_dsn, "SELECT s::text AS flat FROM subjects s"))[0]
    assert "umbermoss" not in row["flat"] and "654321" not in row["flat"]
    assert "wa-3141" not in row["flat"]
    keys = await fetch(vault_dsn, "SELECT kek_id, key_version FROM data_keys")
    assert [(k["kek_id"], k["key_version"]) for k in keys] == [("kek-local-1", 1)]
    assert (await vault.resolve_one("u1", "email"))["address"] == EMAIL
    assert (await vault.resolve_one("u1", "whatsapp"))["address"] == "wa-3141"


async def test_a_tampered_ciphertext_is_refused_and_audited(vault, vault_dsn):
    await vault.put("u1", {"email": EMAIL})
    await execute(
        vault_dsn,
        "UPDATE subjects SET email_ct = set_byte(email_ct, 29, get_byte(email_ct, 29) # 1)",
    )
    result = await vault.resolve_one("u1", "email")
    assert result["status"] == "integrity_failure" and "address" not in result
    assert (await vault.call("GET", "/v1/subjects/u1", "admin"))[0] == 500
    decisions = await fetch(vault_dsn, "SELECT decision FROM audit_log ORDER BY seq DESC LIMIT 1")
    assert decisions[0]["decision"] == "integrity_failure"


async def test_a_ciphertext_moved_to_another_subject_does_not_open(vault, vault_dsn):
    await vault.put("victim", {"email": EMAIL})
    await vault.put("thief", {"email": "thief@example.net"})
    # Even with the victim's data key copied along, the associated data names the subject.
    await execute(
        vault_dsn,
        """UPDATE subjects SET email_ct = (SELECT email_ct FROM subjects WHERE ext_user_id = 'victim')
           WHERE ext_user_id = 'thief';
           UPDATE data_keys SET wrapped_key = (SELECT wrapped_key FROM data_keys WHERE ext_user_id = 'victim')
           WHERE ext_user_id = 'thief'""",
    )
    assert (await vault.resolve_one("thief", "email"))["status"] == "integrity_failure"
    assert (await vault.resolve_one("victim", "email"))["address"] == EMAIL


async def test_kek_rotation_rewraps_data_keys_without_touching_the_data(
    vault_env, vault_dsn, topics
):
    async with running_vault(vault_env) as vault:
        for n in range(25):
            await vault.put(f"u{n}", {"email": f"user{n}.{EMAIL}", "phone": PHONE})
    before = await fetch(
        vault_dsn, "SELECT ext_user_id, email_ct, phone_ct FROM subjects ORDER BY 1"
    )
    rotating, new_only = kek_rotation_envs(vault_env)
    done = run_cli(rotating, "vault", "rotate-kek", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "re-wrapped 25 data keys" in done.stdout
    assert (
        await fetch(vault_dsn, "SELECT ext_user_id, email_ct, phone_ct FROM subjects ORDER BY 1")
        == before
    )
    assert {r["kek_id"] for r in await fetch(vault_dsn, "SELECT kek_id FROM data_keys")} == {
        "kek-2"
    }

    # The old KEK can now be removed from configuration: every subject still reads.
    async with running_vault(new_only) as vault:
        assert (await vault.resolve_one("u7", "email"))["address"] == f"user7.{EMAIL}"
        await vault.put("new", {"email": EMAIL})
        assert (await vault.resolve_one("new", "sms"))["status"] == "no_address"
    # ...and with only the old KEK nothing opens any more.
    async with running_vault(vault_env) as vault:
        assert (await vault.resolve_one("u7", "email"))["status"] == "integrity_failure"
    again = run_cli(rotating, "vault", "rotate-kek", "--no-progress")
    assert "re-wrapped 0 data keys" in again.stdout


async def test_erasure_shreds_the_key_and_later_lookups_answer_not_found(
    vault, vault_dsn, kafka_bootstrap, topics
):
    await vault.put("u1", {"email": EMAIL, "phone": PHONE})
    stolen = await fetch(vault_dsn, "SELECT email_ct FROM subjects")
    assert (await vault.erase("u1")) == (200, {"status": "erased"})

    assert await fetch(vault_dsn, "SELECT * FROM data_keys") == []
    assert await fetch(vault_dsn, "SELECT * FROM blind_index") == []
    row = (await fetch(vault_dsn, "SELECT email_ct, phone_ct, erased_at FROM subjects"))[0]
    assert row["email_ct"] is None and row["phone_ct"] is None and row["erased_at"] is not None
    assert stolen[0]["email_ct"] is not None  # a copy taken before (a backup) has no key left

    assert (await vault.call("GET", "/v1/subjects/u1", "admin"))[0] == 404
    assert (await vault.resolve_one("u1", "email"))["status"] == "erased"
    assert (await vault.call("POST", "/v1/lookups", "admin", json={"email": EMAIL}))[1] == {
        "ext_user_ids": []
    }
    assert (await vault.erase("u1"))[0] == 404
    audit = await fetch(
        vault_dsn, "SELECT decision, fields FROM audit_log WHERE decision = 'erased'"
    )
    assert [(r["decision"], sorted(r["fields"])) for r in audit] == [("erased", ["email", "phone"])]

    # Written again later (an operator's audited override of the tombstone): a new data
    # key, a new key version.
    override = {"reason": "the player registered again"}
    assert (await vault.put("u1", {"email": EMAIL, "override_erasure": override}))[0] == 200
    keys = await fetch(vault_dsn, "SELECT key_version FROM data_keys")
    assert [k["key_version"] for k in keys] == [2]
    records = await read_topic(kafka_bootstrap, topics.subject_facts, expect=3)
    assert [r.value is None for r in records] == [False, True, False]
    assert SubjectFacts.from_bytes(records[2].value).version == 3
