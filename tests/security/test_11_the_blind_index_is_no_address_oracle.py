"""Issue #16 item 11: the blind index keeps a 2-byte bucket per (key version, address), so
the table no longer shows which subjects share an address; a lookup confirms each candidate
against its stored address, is throttled, and leaves a row in every found subject's trail;
the key can be rotated (rows name their key version, earlier keys are still searched)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os

from services.vault.crypto import BUCKET_BYTES, BlindIndex
from services.vault.domain import ContactField, blind_index_input
from tests.support.databases import fetch
from tests.support.processes import run_cli
from tests.vault.support import running_vault

EMAIL = "ada@example.org"


def _colliding_email(key: str) -> str:
    """Another address in the same bucket as EMAIL (found by trying, as an attacker cannot)."""
    index = BlindIndex.from_setting(key)
    target = index.digest(blind_index_input_email(EMAIL))
    for n in itertools.count():
        candidate = f"other{n}@example.org"
        if index.digest(blind_index_input_email(candidate)) == target:
            return candidate
    raise AssertionError("unreachable")


def blind_index_input_email(value: str) -> str:
    return blind_index_input(ContactField.EMAIL, value)


async def test_a_lookup_confirms_its_bucket_and_audits_each_subject(vault, vault_env, vault_dsn):
    other = _colliding_email(vault_env["BLINDPOST_VAULT_BLIND_INDEX_KEY"])
    await vault.put("ada", {"email": EMAIL})
    await vault.put("bob", {"email": other})
    rows = await fetch(vault_dsn, "SELECT * FROM blind_index ORDER BY ext_user_id")
    assert [len(bytes(r["digest"])) for r in rows] == [BUCKET_BYTES] * 2
    assert {r["key_version"] for r in rows} == {1}
    status, body = await vault.call("POST", "/v1/lookups", "admin", json={"email": EMAIL})
    assert (status, body) == (200, {"ext_user_ids": ["ada"]})
    trail = await fetch(
        vault_dsn, "SELECT ext_user_id FROM audit_log WHERE decision = 'looked_up'"
    )
    assert [r["ext_user_id"] for r in trail] == ["ada"]


async def test_lookups_are_throttled(vault_env, vault_dsn, topics):
    env = {**vault_env, "BLINDPOST_VAULT_LOOKUPS_PER_MINUTE": "5"}
    async with running_vault(env) as vault:
        answers = await asyncio.gather(
            *(vault.call("POST", "/v1/lookups", "admin", json={"email": EMAIL}) for _ in range(12))
        )
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == 5 and statuses.count(429) == 7
    refused = await fetch(
        vault_dsn, "SELECT count(*) AS n FROM audit_log WHERE decision = 'refused_throttled'"
    )
    assert refused[0]["n"] == 7


async def test_the_key_rotates_and_earlier_rows_are_still_found(vault_env, vault_dsn, topics):
    old_key = vault_env["BLINDPOST_VAULT_BLIND_INDEX_KEY"]
    async with running_vault(vault_env) as vault:
        assert (await vault.put("ada", {"email": EMAIL}))[0] == 200
    new_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    rotated = {
        **vault_env,
        "BLINDPOST_VAULT_BLIND_INDEX_KEY": new_key,
        "BLINDPOST_VAULT_BLIND_INDEX_KEY_VERSION": "2",
        "BLINDPOST_VAULT_BLIND_INDEX_PREVIOUS_KEYS": f"1:{old_key}",
    }
    async with running_vault(rotated) as vault:
        assert (await vault.put("bob", {"email": EMAIL}))[0] == 200
        status, body = await vault.call("POST", "/v1/lookups", "admin", json={"email": EMAIL})
        assert (status, body) == (200, {"ext_user_ids": ["ada", "bob"]})
    rows = await fetch(vault_dsn, "SELECT ext_user_id, key_version FROM blind_index ORDER BY 1")
    assert [(r["ext_user_id"], r["key_version"]) for r in rows] == [("ada", 1), ("bob", 2)]

    # Re-indexed under the new key, the old one is no longer needed.
    done = run_cli(rotated, "vault", "reindex")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "re-indexed 1 subjects" in done.stdout
    # Re-indexing decrypted ada's address: her own audit trail says so.
    rows = await fetch(
        vault_dsn,
        "SELECT ext_user_id, fields, purpose FROM audit_log"
        " WHERE decision = 'keys_rotated' AND ext_user_id IS NOT NULL",
    )
    assert [(r["ext_user_id"], list(r["fields"]), r["purpose"]) for r in rows] == [
        ("ada", ["email"], "blind-index-rotation")
    ]
    only_new = {k: v for k, v in rotated.items() if "PREVIOUS_KEYS" not in k}
    async with running_vault(only_new) as vault:
        status, body = await vault.call("POST", "/v1/lookups", "admin", json={"email": EMAIL})
        assert (status, body) == (200, {"ext_user_ids": ["ada", "bob"]})
    rows = await fetch(vault_dsn, "SELECT DISTINCT key_version FROM blind_index")
    assert [r["key_version"] for r in rows] == [2]
