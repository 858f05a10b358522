"""Content-key calls that arrive together share one transaction (services/vault/content_keys.py,
group commit): each call still gets its own answers, every key handed out its own audit row
in the hash chain, and a key made for the group is recorded as made once."""

from __future__ import annotations

import asyncio
import uuid

from tests.support.processes import run_cli
from tests.vault.support import VaultClient, audit_rows


async def hand_out(vault: VaultClient, body: dict[str, object]) -> list[dict[str, object]]:
    status, answer = await vault.call("POST", "/v1/content-keys", "content", json=body)
    assert status == 200, answer
    keys: list[dict[str, object]] = answer["keys"]
    return keys


async def test_calls_made_together_each_get_their_keys_and_each_key_its_audit_row(
    vault: VaultClient, vault_dsn: str, vault_env: dict[str, str]
) -> None:
    players = [f"player-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    old, new = players[:3], players[3:]
    made = {key["ext_user_id"]: key["key_id"] for key in await hand_out(vault, seal(old))}
    before = len(await audit_rows(vault_dsn))

    by_id: dict[str, object] = {
        "purpose": "content-render",
        "keys": [{"ext_user_id": u, "key_id": made[u]} for u in old],
    }
    current: dict[str, object] = {"purpose": "content-render", "ext_user_ids": new}
    calls = [seal(players), seal(new), by_id, current]
    answers = await asyncio.gather(*(hand_out(vault, body) for body in calls * 3))

    sealed = {(a["ext_user_id"], a["key_id"]) for call in answers[0::4] for a in call}
    sealed |= {(a["ext_user_id"], a["key_id"]) for call in answers[1::4] for a in call}
    assert len(sealed) == len(players) and {u for u, _ in sealed} == set(players)
    assert {(u, k) for u, k in sealed if u in old} == set(made.items())
    for call in answers[2::4]:  # by id: the keys asked for
        assert {(a["ext_user_id"], a["key_id"], a["status"]) for a in call} == {
            (u, made[u], "ok") for u in old
        }
    for call in answers[3::4]:  # a dispatcher never makes a key: made by now, or not yet
        assert all(a["status"] in {"ok", "no_key"} for a in call)
        assert all((a["ext_user_id"], a["key_id"]) in sealed for a in call if a["status"] == "ok")

    rows = (await audit_rows(vault_dsn))[before:]
    assert len(rows) == sum(len(call) for call in answers)  # one row per key handed out
    reads = [r for r in rows if r["decision"] == "read"]
    assert all(r["caller"] == "content" and list(r["fields"]) == ["content_key"] for r in reads)
    assert sorted(r["ext_user_id"] for r in reads if r["detail"] == "created") == sorted(new)
    verified = run_cli(vault_env, "audit", "verify", "--no-kafka", "--no-checkpoints")
    assert "intact" in verified.stdout, verified.stdout + verified.stderr


def seal(players: list[str]) -> dict[str, object]:
    return {"purpose": "content-seal", "ext_user_ids": players}
