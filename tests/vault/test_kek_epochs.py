"""KEK epochs against real PostgreSQL, with the rotation's clock in the test's hands: a backup
taken before an erasure opens the erased subject's data until the epochs that wrapped its key
are destroyed (a backup retention after they were retired), and never after; live subjects
are re-wrapped and stay readable; the erasure report says when the backups stop opening."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.vault.app import keys_from
from services.vault.crypto import IntegrityError, SubjectCipher
from services.vault.epoch_rotation import EpochPolicy, EpochRun, rotate_epochs
from services.vault.kek_epochs import EpochStore
from services.vault.roles import prepare_schema
from services.vault.settings import VaultSettings
from tests.support.processes import run_cli
from tests.vault.support import audit_rows, running_vault

LEAVER, STAYER = "leaving-player", "staying-player"
LEAVER_EMAIL, STAYER_EMAIL = "wilhelmina.cotterell@example.org", "barnaby.quillfeather@example.net"
POLICY = EpochPolicy(epoch_days=30, retention_days=35)
T0 = datetime.now(UTC).replace(microsecond=0)


def master() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


@pytest.fixture
def epochs_dir(tmp_path: Path) -> Path:
    return tmp_path / "kek-epochs"


@pytest.fixture
def epoch_env(vault_env: dict[str, str], epochs_dir: Path) -> dict[str, str]:
    # The vault re-reads the epochs hourly here, so that one started before a rotation
    # still wraps with the epoch it knew (as a replica does for up to a minute).
    return {
        **vault_env,
        "BLINDPOST_VAULT_KEK_EPOCHS_DIR": str(epochs_dir),
        "BLINDPOST_VAULT_KEK_EPOCH_MASTER": master(),
        "BLINDPOST_VAULT_KEK_EPOCH_REFRESH_S": "3600",
    }


async def rotate(env: dict[str, str], at: datetime) -> EpochRun:
    settings = VaultSettings.from_env(env)
    keyring, _ = keys_from(settings)
    return await rotate_epochs(
        settings.database_url(), keyring, POLICY, "cli:test", now=at, progress=False
    )


async def fetch(dsn: str, query: str, *args) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def backup_of(dsn: str, ext_user_id: str) -> asyncpg.Record:
    """The subject's rows as a database backup holds them."""
    (row,) = await fetch(
        dsn,
        "SELECT s.email_ct, d.key_version, d.kek_id, d.wrapped_key FROM subjects s "
        "JOIN data_keys d USING (ext_user_id) WHERE ext_user_id = $1",
        ext_user_id,
    )
    return row


def open_backup(env: dict[str, str], backup: asyncpg.Record, ext_user_id: str) -> str:
    """What whoever holds the backup and today's configuration reads from it."""
    keyring, _ = keys_from(VaultSettings.from_env(env))
    dek = keyring.unwrap(bytes(backup["wrapped_key"]), ext_user_id, backup["key_version"])
    cipher = SubjectCipher(dek, ext_user_id, backup["key_version"])
    return cipher.decrypt("email", bytes(backup["email_ct"]))


def erasure_report(env: dict[str, str], tmp_path: Path) -> dict:
    path = tmp_path / "erasure.json"
    done = run_cli(env, "subject", "erasure-report", LEAVER, "--output", str(path))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    (erasure,) = json.loads(path.read_text())["report"]["destroyed"]
    return erasure


async def test_an_erased_key_in_a_backup_opens_no_more_once_its_epoch_is_destroyed(
    epoch_env, epochs_dir, vault_dsn, vault_owner_dsn, tmp_path, topics
):
    await prepare_schema(vault_dsn, vault_owner_dsn)
    assert (await rotate(epoch_env, T0)).created == "epoch-1"
    async with running_vault(epoch_env) as vault:
        assert (await vault.put(LEAVER, {"email": LEAVER_EMAIL}))[0] == 200
        assert (await vault.put(STAYER, {"email": STAYER_EMAIL}))[0] == 200
        backup = await backup_of(vault_dsn, LEAVER)
        assert backup["kek_id"] == "epoch-1"
        assert (await vault.erase(LEAVER))[0] == 200
    assert open_backup(epoch_env, backup, LEAVER) == LEAVER_EMAIL

    # A month on: a new epoch, the live key re-wrapped, epoch 1 retired but kept while
    # backups taken before may still be restored.
    month = await rotate(epoch_env, T0 + timedelta(days=31))
    due = T0 + timedelta(days=31 + 35)
    assert (month.created, month.rewrapped, month.retired) == ("epoch-2", 1, ["epoch-1"])
    assert month.waiting == {"epoch-1": due} and month.destroyed == []
    assert open_backup(epoch_env, backup, LEAVER) == LEAVER_EMAIL
    pending = erasure_report(epoch_env, tmp_path)
    assert pending["data_key"] == "data key v1 destroyed (wrapped by KEK epoch-1)"
    assert pending["backup_keks"] == [
        {
            "kek": "epoch-1",
            "kind": "epoch",
            "state": "retired",
            "retired_at": (T0 + timedelta(days=31)).isoformat(),
            "destruction_due": due.isoformat(),
        }
    ]
    assert pending["unrecoverable_from_backups"] == due.isoformat()

    # One day early nothing goes (a third epoch starts: the second is 34 days old); at the
    # end of the backup retention epoch 1 is destroyed, its material gone from the directory.
    assert (await rotate(epoch_env, due - timedelta(days=1))).destroyed == []
    assert (await rotate(epoch_env, due)).destroyed == ["epoch-1"]
    names = {p.name for p in epochs_dir.iterdir()}
    assert "epoch-1.destroyed" in names and "epoch-1.material" not in names
    with pytest.raises(IntegrityError, match="'epoch-1', which was destroyed at"):
        open_backup(epoch_env, backup, LEAVER)

    # The backup restored into the database does not open either; the live subject does.
    await fetch(
        vault_dsn,
        "WITH k AS (INSERT INTO data_keys (ext_user_id, key_version, kek_id, wrapped_key) "
        "VALUES ($1, $2, $3, $4)) UPDATE subjects SET email_ct = $5, channels = '{email}', "
        "erased_at = NULL WHERE ext_user_id = $1",
        LEAVER,
        backup["key_version"],
        backup["kek_id"],
        backup["wrapped_key"],
        backup["email_ct"],
    )
    async with running_vault(epoch_env) as vault:
        assert (await vault.resolve_one(LEAVER, "email"))["status"] == "integrity_failure"
        assert (await vault.resolve_one(STAYER, "email"))["address"] == STAYER_EMAIL

    destroyed = erasure_report(epoch_env, tmp_path)
    assert destroyed["backup_keks"] == [
        {"kek": "epoch-1", "kind": "epoch", "state": "destroyed", "destroyed_at": due.isoformat()}
    ]
    assert destroyed["unrecoverable_from_backups"] == due.isoformat()
    assert "can no longer be opened" in destroyed["backups"]


async def test_a_key_wrapped_by_a_vault_that_missed_the_new_epoch_is_never_lost(
    epoch_env, vault_dsn, tmp_path, topics
):
    # The command the CronJob runs (its clock is the real one, T0 give or take a second).
    done = run_cli(epoch_env, "vault", "rotate-epochs", "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [
        "new KEK epoch epoch-1",
        "re-wrapped 0 data keys and 0 content keys with KEK epoch epoch-1",
    ]
    (audited,) = [r for r in await audit_rows(vault_dsn) if r["purpose"] == "kek-epochs"]
    assert audited["detail"].startswith("current=epoch-1 created=epoch-1 rewrapped=0")
    async with running_vault(epoch_env) as vault:
        assert (await vault.put(STAYER, {"email": STAYER_EMAIL}))[0] == 200
        month = T0 + timedelta(days=31)
        assert (await rotate(epoch_env, month)).retired == ["epoch-1"]
        # This vault has not re-read the epochs yet: it still wraps with epoch 1.
        assert (await vault.put(LEAVER, {"email": LEAVER_EMAIL}))[0] == 200
    assert (await backup_of(vault_dsn, LEAVER))["kek_id"] == "epoch-1"

    # Due for destruction, but a live key is under it: it is re-wrapped (with the live one,
    # into a new epoch), not destroyed, and the backup retention counts again from now
    # (backups taken until now hold that key under epoch 1).
    late = T0 + timedelta(days=31 + 35)
    run = await rotate(epoch_env, late)
    assert (run.created, run.rewrapped, run.destroyed) == ("epoch-3", 2, [])
    assert run.retired == ["epoch-1", "epoch-2"]
    assert (await rotate(epoch_env, late + timedelta(days=34))).destroyed == []
    run = await rotate(epoch_env, late + timedelta(days=35))
    assert run.destroyed == ["epoch-1", "epoch-2"] and run.current == "epoch-4"
    async with running_vault(epoch_env) as vault:
        assert (await vault.resolve_one(LEAVER, "email"))["address"] == LEAVER_EMAIL
        assert (await vault.erase(LEAVER))[0] == 200
    erasure = erasure_report(epoch_env, tmp_path)
    assert erasure["data_key"] == (
        "data key v1 destroyed (wrapped by KEK epoch-4; before that by epoch-1, epoch-3)"
    )
    assert [(k["kek"], k["state"]) for k in erasure["backup_keks"]] == [
        ("epoch-1", "destroyed"),
        ("epoch-3", "retired"),
        ("epoch-4", "in use"),
    ]
    assert "at the earliest" in erasure["backups"]


def test_an_epoch_key_needs_both_the_master_secret_and_the_epoch_material(tmp_path):
    secret = base64.urlsafe_b64decode(master() + "=")
    store = EpochStore(tmp_path, secret)
    kek_id = store.create()
    assert EpochStore(tmp_path, secret).key(kek_id) == store.key(kek_id)
    # A copy of the directory without the master secret (or the reverse) derives nothing useful.
    assert EpochStore(tmp_path, os.urandom(32)).key(kek_id) != store.key(kek_id)
    store.destroy(kek_id, T0)
    again = EpochStore(tmp_path, secret)
    assert again.key(kek_id) is None and again.current() is None
    assert again.why_missing(kek_id) == (
        f"was destroyed at {T0.isoformat()}: what it wrapped cannot be opened"
    )
    assert store.create() == "epoch-2"  # a destroyed epoch's number is never used again
