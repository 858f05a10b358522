"""An erased subject stays a tombstone: the next sync (a PUT, an import line) cannot bring it
back unless an operator overrides the erasure with a reason, and both are audited."""

from __future__ import annotations

import json

import asyncpg
import pytest

from services.vault.domain import InvalidContact
from services.vault.tombstones import ErasureOverride, destroyed_keks, destroyed_key_detail
from tests.support.processes import run_cli
from tests.vault.support import running_vault

EMAIL = "ottoline.fairweather@example.org"


async def audit_of(dsn: str, ext_user_id: str) -> list[tuple[str, str | None, str | None]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT decision, purpose, detail FROM audit_log WHERE ext_user_id = $1 ORDER BY seq",
            ext_user_id,
        )
    finally:
        await conn.close()
    return [(r["decision"], r["purpose"], r["detail"]) for r in rows]


async def test_an_erased_subject_is_not_written_again_without_an_audited_override(vault, vault_dsn):
    assert (await vault.put("gone", {"email": EMAIL}))[0] == 200
    assert (await vault.erase("gone"))[0] == 200

    status, body = await vault.put("gone", {"email": EMAIL})
    assert status == 409
    assert body["error"] == "subject erased" and body["field"] == "ext_user_id"
    assert "override" in body["reason"] and "fairweather" not in json.dumps(body)
    assert (await vault.resolve_one("gone", "email"))["status"] == "erased"

    status, body = await vault.put("gone", {"email": EMAIL, "override_erasure": {"reason": "   "}})
    assert (status, body["field"]) == (400, "override_erasure")
    assert (await vault.resolve_one("gone", "email"))["status"] == "erased"

    status, _ = await vault.put(
        "gone",
        {"email": EMAIL, "override_erasure": {"reason": "player re-registered, ticket 4411"}},
    )
    assert status == 200
    assert (await vault.resolve_one("gone", "email"))["address"] == EMAIL

    trail = await audit_of(vault_dsn, "gone")
    assert [d for d, purpose, _ in trail if purpose != "dispatch"] == [
        "written",
        "erased",
        "refused_erased",
        "refused_invalid",
        "erasure_overridden",
    ]
    assert (
        "erasure_overridden",
        "admin-write",
        "erasure overridden: player re-registered, ticket 4411",
    ) in trail


async def test_an_import_line_for_an_erased_subject_is_rejected_and_the_rest_lands(
    vault_env, vault_dsn, tmp_path
):
    async with running_vault(vault_env) as vault:
        assert (await vault.put("erased-1", {"email": EMAIL}))[0] == 200
        assert (await vault.erase("erased-1"))[0] == 200
    lines = [
        {"ext_user_id": "live-1", "email": "live.one@example.org"},
        {"ext_user_id": "erased-1", "email": EMAIL},
        {"ext_user_id": "live-2", "phone": "+447911123456"},
    ]
    path = tmp_path / "sync.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))

    done = run_cli(vault_env, "vault", "import", str(path), "--no-progress")
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    assert "line 2: rejected: ext_user_id: erased subject" in done.stdout
    assert "--override-erasure" in done.stdout
    assert "imported 2 subjects, rejected 1 lines" in done.stdout
    assert "fairweather" not in done.stdout + done.stderr
    assert [d for d, _, _ in await audit_of(vault_dsn, "erased-1")] == [
        "written",
        "erased",
        "refused_erased",
    ]

    done = run_cli(
        vault_env, "vault", "import", str(path), "--no-progress",
        "--override-erasure", "restored from the CRM after a mistaken erasure",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "imported 3 subjects, rejected 0 lines" in done.stdout
    assert (await audit_of(vault_dsn, "erased-1"))[-1] == (
        "erasure_overridden",
        "bulk-import",
        "erasure overridden: restored from the CRM after a mistaken erasure",
    )
    async with running_vault(vault_env) as vault:
        assert (await vault.resolve_one("erased-1", "email"))["address"] == EMAIL
        assert (await vault.resolve_one("live-2", "sms"))["address"] == "+447911123456"


async def test_a_strict_import_refused_for_an_erased_subject_still_audits_the_refusal(
    vault_env, vault_dsn, tmp_path
):
    async with running_vault(vault_env) as vault:
        assert (await vault.put("erased-2", {"email": EMAIL}))[0] == 200
        assert (await vault.erase("erased-2"))[0] == 200
    path = tmp_path / "sync.jsonl"
    path.write_text(json.dumps({"ext_user_id": "erased-2", "email": EMAIL}) + "\n")

    done = run_cli(vault_env, "vault", "import", str(path), "--no-progress", "--strict")
    assert done.returncode == 2, done.stdout + done.stderr[-3000:]
    assert "nothing written" in done.stderr
    assert [d for d, _, _ in await audit_of(vault_dsn, "erased-2")][-1] == "refused_erased"


def test_an_override_needs_a_reason_and_nothing_else() -> None:
    assert ErasureOverride.parse({"reason": "  asked   twice "}).reason == "asked twice"
    assert ErasureOverride.parse("from the CLI", "--override-erasure").reason == "from the CLI"
    for bad in ({}, {"reason": " "}, {"reason": 3}, {"reason": "ok", "by": "me"}, None):
        with pytest.raises(InvalidContact):
            ErasureOverride.parse(bad)


def test_the_erasure_row_names_the_kek_of_the_destroyed_key() -> None:
    assert destroyed_keks(destroyed_key_detail(3, ["kek-2024"])) == ["kek-2024"]
    assert destroyed_keks(destroyed_key_detail(2, ["k1", "epoch-1", "epoch-2"])) == [
        "k1",
        "epoch-1",
        "epoch-2",
    ]
    assert destroyed_keks(destroyed_key_detail(1, [])) == []
    assert destroyed_keks(None) == []  # an erasure recorded before the KEK was
