"""`blindpost subject erasure-report`: what an erasure destroyed, when and by whom, what
remains and why, signed with the audit checkpoint key; `blindpost subject verify` accepts it
with the public key and refuses it once a single byte has changed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import asyncpg

from services.eventstore.app import MIGRATIONS, MIGRATIONS_TABLE
from services.vault.checkpoints import CheckpointSigner
from shared.db import migrate_database
from tests.support.processes import run_cli
from tests.vault.support import audit_rows

PLAYER, EMAIL, PHONE = "erased-player", "philippa.marchbanks@example.org", "+447911123456"


async def record_messages(
    events_dsn: str,
    states: list[tuple[str, str, str]],
    message_ids: list[uuid.UUID] | None = None,
) -> None:
    """Message states as the projector keeps them (ext_user_id, channel, status)."""
    await migrate_database(events_dsn, MIGRATIONS, MIGRATIONS_TABLE)
    ids = message_ids or [uuid.uuid4() for _ in states]
    conn = await asyncpg.connect(events_dsn)
    try:
        await conn.executemany(
            "INSERT INTO message_state (ext_message_id, version, channel, ext_user_id, status,"
            " status_times, accepted_at, attempts, callbacks, body_redacted)"
            " VALUES ($1, 1, $2, $3, $4, jsonb_build_object($4::text, now()), now(), 1, '[]',"
            " false)",
            [(mid, c, user, s) for mid, (user, c, s) in zip(ids, states, strict=True)],
        )
    finally:
        await conn.close()


def verify(env: dict[str, str], path: Path, public_key: str) -> tuple[int, str]:
    done = run_cli(env, "subject", "verify", str(path), "--public-key", public_key)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.returncode, done.stdout


async def test_the_erasure_report_names_what_went_and_what_stays_and_verifies_signed(
    vault, vault_env, vault_dsn, events_dsn, tmp_path
):
    assert (await vault.put(PLAYER, {"email": EMAIL, "phone": PHONE}))[0] == 200
    assert (await vault.resolve_one(PLAYER, "email"))["status"] == "ok"
    assert (await vault.erase(PLAYER))[0] == 200
    await record_messages(
        events_dsn,
        [(PLAYER, "email", "delivered"), (PLAYER, "sms", "failed"), ("other", "email", "sent")],
    )
    env = {**vault_env, "DATABASE_URL": events_dsn}
    path = tmp_path / "erasure.json"

    done = run_cli(env, "subject", "erasure-report", PLAYER, "--output", str(path))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    text = path.read_text()
    assert "marchbanks" not in text and "7911123456" not in text
    report = json.loads(text)["report"]
    assert report["state"] == "erased" and report["ext_user_id"] == PLAYER
    (destroyed,) = report["destroyed"]
    assert destroyed["by"] == {"principal": "admin", "scope": "admin"}
    assert destroyed["contact_ciphertexts"] == ["email", "phone"]
    assert destroyed["data_key"] == "data key v1 destroyed (wrapped by KEK kek-local-1)"
    assert "still configured" in destroyed["backups"]
    remains = report["remains"]
    assert "no contact data" in remains["tombstone"]["why"]
    trail = [(row["decision"], row["purpose"]) for row in remains["audit_trail"]["rows"]]
    assert trail == [("written", "admin-write"), ("read", "dispatch"), ("erased", "erasure")]
    assert sorted((m["channel"], m["status"]) for m in remains["messages"]["messages"]) == [
        ("email", "delivered"),
        ("sms", "failed"),
    ]
    # Producing the report is itself an access, audited.
    assert [r["purpose"] for r in await audit_rows(vault_dsn)][-1] == "erasure-report"

    public = CheckpointSigner.from_setting(env["BLINDPOST_VAULT_AUDIT_SIGNING_KEY"])
    status, out = verify(env, path, public.public_key_text())
    assert (status, out.strip()) == (0, f"verified: blindpost erasure report for {PLAYER}")

    other = CheckpointSigner.from_setting("A" * 43).public_key_text()
    assert verify(env, path, other)[0] == 1

    original = path.read_bytes()
    for changed in (
        original.replace(b'"principal": "admin"', b'"principal": "admio"', 1),  # a value
        original.replace(b'\n  "signature"', b'\n \t"signature"', 1),  # white space alone
    ):
        assert len(changed) == len(original) and changed != original
        path.write_bytes(changed)
        status, out = verify(env, path, public.public_key_text())
        assert status == 1 and out.startswith("NOT VERIFIED"), out


async def test_no_report_for_a_subject_never_erased(vault, vault_env):
    assert (await vault.put("still-here", {"email": EMAIL}))[0] == 200
    done = run_cli(vault_env, "subject", "erasure-report", "still-here")
    assert done.returncode == 1
    assert "no erasure of still-here is recorded" in done.stderr
