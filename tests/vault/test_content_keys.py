"""Players' content keys (``POST /v1/content-keys``, services/vault/content_keys.py): made on
first use by intake, handed to the dispatchers, every hand-out audited, destroyed with the
player; asked for through the client the stages use (shared/content_keys.py)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import asyncpg
import pytest

from shared.content_keys import RENDER, SEAL, ContentKeys
from shared.content_sealing import ContentSealingError, open_content, seal
from shared.events import MessageContent
from tests.support.processes import run_cli
from tests.vault.support import VaultClient, kek_rotation_envs, running_vault
from tests.vault.test_erasure_report import record_messages

EMAIL = "ottoline.fairweather@example.org"


def client(vault: VaultClient, purpose: str) -> ContentKeys:
    token = vault.env["BLINDPOST_VAULT_CONTENT_TOKEN"]
    return ContentKeys(vault.session, vault.base_url, token, purpose, ttl_s=0)


async def content_audit(dsn: str, ext_user_id: str) -> list[tuple[str, str, str, list[str]]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT caller, purpose, decision, fields FROM audit_log"
            " WHERE ext_user_id = $1 ORDER BY seq",
            ext_user_id,
        )
    finally:
        await conn.close()
    return [(r["caller"], r["purpose"], r["decision"], list(r["fields"])) for r in rows]


async def stored_keys(dsn: str, ext_user_id: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM content_keys WHERE ext_user_id = $1", ext_user_id
            )
        )
    finally:
        await conn.close()


async def test_a_key_is_made_once_by_intake_handed_to_dispatchers_and_each_hand_out_audited(
    vault: VaultClient, vault_dsn: str
) -> None:
    user = f"player-{uuid.uuid4().hex[:8]}"  # unknown to the vault: a preview's player
    render = client(vault, RENDER)
    assert (await render.answer_for(user)).status == "no_key"  # a dispatcher never makes one

    sealing = client(vault, SEAL)
    # Asked for together (as concurrent requests are): one key, the same for every caller.
    answers = await asyncio.gather(*(sealing.answer_for(user) for _ in range(5)))
    keys = {(a.key.key_id, a.key.key) for a in answers if a.key is not None}
    assert len(keys) == 1 and all(a.status == "ok" for a in answers)
    opened = await render.answer_for(user)
    assert opened.key is not None and (opened.key.key_id, opened.key.key) in keys

    audit = await content_audit(vault_dsn, user)
    assert audit[0] == ("content", "content-render", "not_found", [])
    reads = audit[1:]
    assert {row[1] for row in reads} == {"content-seal", "content-render"}
    assert all(row[0] == "content" and row[2:] == ("read", ["content_key"]) for row in reads)
    assert len(reads) < 6  # the five concurrent requests shared calls


async def test_erasing_the_player_destroys_the_key_and_what_it_sealed_never_opens_again(
    vault: VaultClient, vault_dsn: str
) -> None:
    user = f"player-{uuid.uuid4().hex[:8]}"
    assert (await vault.put(user, {"email": EMAIL}))[0] == 200
    key = (await client(vault, SEAL).answer_for(user)).key
    assert key is not None
    message = uuid.uuid4()
    sealed = seal(MessageContent(subject="For Ottoline", body="Hello"), key, message)

    assert (await vault.erase(user))[0] == 200
    assert await stored_keys(vault_dsn, user) == 0
    assert (await client(vault, RENDER).answer_for(user)).status == "erased"
    assert (await client(vault, SEAL).answer_for(user)).status == "erased"  # no new key
    assert await stored_keys(vault_dsn, user) == 0
    erasure = [row for row in await content_audit(vault_dsn, user) if row[1] == "erasure"]
    assert erasure == [("admin", "erasure", "erased", ["email", "content_key"])]
    with pytest.raises(ContentSealingError):
        open_content(sealed, type(key)(key.key_id, os.urandom(32)), message)


async def test_a_player_the_vault_never_knew_is_erased_by_its_content_key_alone(
    vault: VaultClient, vault_dsn: str
) -> None:
    user = f"player-{uuid.uuid4().hex[:8]}"
    assert (await vault.erase(user))[0] == 404  # nothing held
    assert (await client(vault, SEAL).answer_for(user)).status == "ok"
    assert (await vault.erase(user))[0] == 200
    assert await stored_keys(vault_dsn, user) == 0
    assert (await client(vault, RENDER).answer_for(user)).status == "no_key"
    assert (await vault.erase(user))[0] == 404


async def test_only_the_content_scope_gets_keys_and_only_with_a_purpose(
    vault: VaultClient, vault_dsn: str
) -> None:
    body = {"purpose": SEAL, "ext_user_ids": ["someone"]}
    status, _ = await vault.call("POST", "/v1/content-keys", "resolver", json=body)
    assert status == 403
    status, answer = await vault.call(
        "POST", "/v1/content-keys", "content", json={"ext_user_ids": ["someone"]}
    )
    assert status == 400 and answer["field"] == "purpose"
    assert await stored_keys(vault_dsn, "someone") == 0


async def test_kek_rotation_rewraps_content_keys_and_the_old_kek_can_go(
    vault_env: dict[str, str], vault_dsn: str, topics
) -> None:
    async with running_vault(vault_env) as vault:
        before = (await client(vault, SEAL).answer_for("rotated-player")).key
    rotating, new_only = kek_rotation_envs(vault_env)
    done = run_cli(rotating, "vault", "rotate-kek", "--no-progress")
    assert done.returncode == 0, done.stderr
    async with running_vault(new_only) as vault:
        assert (await client(vault, RENDER).answer_for("rotated-player")).key == before


@pytest.mark.parametrize("data_key", [False, True], ids=["content-key-only", "with-data-key"])
async def test_the_erasure_report_follows_a_content_key_through_every_kek_that_wrapped_it(
    data_key: bool, vault_env: dict[str, str], vault_dsn: str, events_dsn: str, tmp_path, topics
) -> None:
    """The content key re-wrapped by a KEK rotation keeps the KEK it was under before (a
    backup may hold it so), and the report names both, also when the player's data key,
    made after the rotation, was only ever under the new KEK."""
    user = f"player-{uuid.uuid4().hex[:8]}"
    rotating, _ = kek_rotation_envs(vault_env)
    async with running_vault(vault_env) as vault:
        assert (await client(vault, SEAL).answer_for(user)).status == "ok"
    done = run_cli(rotating, "vault", "rotate-kek", "--no-progress")
    assert done.returncode == 0, done.stderr
    async with running_vault(rotating) as vault:
        if data_key:
            assert (await vault.put(user, {"email": EMAIL}))[0] == 200
        assert (await vault.erase(user))[0] == 200
    await record_messages(events_dsn, [])
    path = tmp_path / "erasure.json"
    env = {**rotating, "DATABASE_URL": events_dsn}
    done = run_cli(env, "subject", "erasure-report", user, "--output", str(path))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    (destroyed,) = json.loads(path.read_text())["report"]["destroyed"]
    assert destroyed["content_key"] == "destroyed"
    assert [entry["kek"] for entry in destroyed["backup_keks"]] == ["kek-2", "kek-local-1"]


async def test_keys_asked_for_by_id_must_name_a_player_and_a_key(vault: VaultClient) -> None:
    for keys in ([], [{"ext_user_id": "someone"}], [{"key_id": "k1"}], ["k1"]):
        body = {"purpose": RENDER, "ext_user_ids": ["someone"], "keys": keys}
        status, answer = await vault.call("POST", "/v1/content-keys", "content", json=body)
        assert status == 400 and answer["field"] in ("keys", "ext_user_id"), keys
