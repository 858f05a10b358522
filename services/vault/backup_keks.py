"""For the erasure report: what backups taken before an erasure still hold, and when that
stops.  A backup holds the erased data key wrapped by whichever KEK wrapped it when the
backup was taken, so it stays openable until every KEK that ever wrapped it is destroyed:
for KEK epochs, on schedule (services/vault/epoch_rotation.py); for a configured KEK, by
hand (docs/vault.md, Backups)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.vault.epoch_rotation import EpochPolicy
from services.vault.kek_epochs import is_epoch
from services.vault.subject_records import iso


async def epoch_lifecycles(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch("SELECT kek_id, started_at, retired_at, destroyed_at FROM kek_epochs")
    return {row["kek_id"]: row for row in rows}


def _epoch(
    kek: str, row: asyncpg.Record | None, policy: EpochPolicy
) -> tuple[dict, datetime | None]:
    """The epoch's state, and when it was or will be destroyed (None: not known yet)."""
    if row is None:
        return {"kek": kek, "kind": "epoch", "state": "not recorded here"}, None
    if row["destroyed_at"] is not None:
        at = row["destroyed_at"]
        return {"kek": kek, "kind": "epoch", "state": "destroyed", "destroyed_at": iso(at)}, at
    if row["retired_at"] is not None:
        due = row["retired_at"] + policy.retention
        entry = {"retired_at": iso(row["retired_at"]), "destruction_due": iso(due)}
        return {"kek": kek, "kind": "epoch", "state": "retired", **entry}, due
    # Still wrapping live keys: retired at the first rotation after its epoch ends.
    earliest = row["started_at"] + policy.epoch + policy.retention
    entry = {"started_at": iso(row["started_at"]), "destruction_no_earlier_than": iso(earliest)}
    return {"kek": kek, "kind": "epoch", "state": "in use", **entry}, earliest


def backup_exposure(
    keks: list[str],
    epochs: dict[str, asyncpg.Record],
    configured_keks: set[str],
    policy: EpochPolicy,
) -> dict[str, object]:
    """``backups`` (in words), ``backup_keks`` (each KEK's state) and
    ``unrecoverable_from_backups`` (when the last of them was or will be destroyed)."""
    if not keks:
        return {
            "backups": "unknown which KEK wrapped the key (erased before it was recorded)",
            "backup_keks": [],
            "unrecoverable_from_backups": None,
        }
    entries: list[dict] = []
    ends: list[datetime | None] = []
    for kek in keks:
        if is_epoch(kek):
            entry, end = _epoch(kek, epochs.get(kek), policy)
        else:
            state = "configured" if kek in configured_keks else "not configured here"
            entry, end = {"kek": kek, "kind": "configured KEK", "state": state}, None
        entries.append(entry)
        ends.append(end)
    last = None if None in ends else max(e for e in ends if e is not None)
    return {
        "backups": _in_words(keks, entries, last, configured_keks, policy),
        "backup_keks": entries,
        "unrecoverable_from_backups": iso(last),
    }


def _in_words(
    keks: list[str],
    entries: list[dict],
    last: datetime | None,
    configured_keks: set[str],
    policy: EpochPolicy,
) -> str:
    held = f"backups taken before this erasure still hold the data key wrapped by KEK {keks[-1]}"
    if len(keks) > 1:
        held += f" (or, older ones, by {', '.join(keks[:-1])})"
    held += "; "
    static = [e["kek"] for e in entries if e["kind"] == "configured KEK"]
    if any(kek in configured_keks for kek in static):
        return held + (
            "a configured KEK among them is still configured, so a restored backup could open "
            "them until it is rotated away and destroyed"
        )
    if static:
        return held + (
            "the configured KEKs among them are no longer configured here: once destroyed "
            "everywhere, and the epochs destroyed on schedule, those copies cannot be opened"
        )
    if last is None:
        return held + "an epoch that wrapped it is not recorded here: when it goes is unknown"
    if all(e["state"] == "destroyed" for e in entries):
        return held + (
            f"every one of those KEK epochs was destroyed (the last at {iso(last)}): those "
            "copies can no longer be opened"
        )
    earliest = " at the earliest" if any(e["state"] == "in use" for e in entries) else ""
    return held + (
        f"its KEK epochs are destroyed on schedule, {policy.retention_days} days (the backup "
        f"retention) after the last data key left them: those copies cannot be opened from "
        f"{iso(last)} on{earliest}"
    )
