"""``blindpost vault rotate-epochs``, run on a schedule (the chart's CronJob, daily): start a
new KEK epoch when the current one is ``epoch_days`` old, re-wrap every live data key under
the current epoch, retire the epochs no data key is under any more, and destroy those retired
longer ago than the backup retention.  Each run is audited; a run stopped half-way is
completed by the next.

Why that order keeps backups safe and data readable: an epoch is retired only when no row of
the live database is wrapped by it, so backups taken after ``retired_at`` do not need it;
backups taken before it expire ``retention_days`` later, and only then is it destroyed.  A
data key an old vault replica wrapped under it after all (it re-reads the epochs every
minute, retention is weeks) puts the epoch back to unretired instead of being lost."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from services.vault.access import Caller, Scope
from services.vault.crypto import Keyring
from services.vault.kek_epochs import EpochStore, epoch_number
from services.vault.operations import WRAPPED_KEYS, audit_operation, rewrap_all

# The KEK of every wrapped key the vault stores: an epoch is retired and destroyed only when
# none of them is under it.  A new table of wrapped keys joins operations.WRAPPED_KEYS, which
# rewrap_all re-wraps too, or its keys would be destroyed with their epoch.
WRAPPED_KEYS_KEKS = " UNION ALL ".join(
    f"SELECT kek_id FROM {keys.table}"  # noqa: S608 - our table names
    for keys in WRAPPED_KEYS
)


@dataclass(frozen=True)
class EpochPolicy:
    epoch_days: int
    retention_days: int

    @property
    def epoch(self) -> timedelta:
        return timedelta(days=self.epoch_days)

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)


@dataclass
class EpochRun:
    """What one run did, and what it left for later."""

    current: str
    created: str | None = None
    rewrapped: int = 0
    rewrapped_content_keys: int = 0
    retired: list[str] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    # Retired epochs still needed by unexpired backups, and when each will be destroyed.
    waiting: dict[str, datetime] = field(default_factory=dict)

    def lines(self) -> list[str]:
        lines = [f"new KEK epoch {self.created}"] if self.created else []
        lines.append(
            f"re-wrapped {self.rewrapped} data keys and {self.rewrapped_content_keys} content keys "
            f"with KEK epoch {self.current}"
        )
        lines += [f"retired KEK epoch {kek}" for kek in self.retired]
        lines += [f"destroyed KEK epoch {kek}" for kek in self.destroyed]
        lines += [
            f"KEK epoch {k} to be destroyed at {at.isoformat()}" for k, at in self.waiting.items()
        ]
        return lines


async def rotate_epochs(
    dsn: str,
    keyring: Keyring,
    policy: EpochPolicy,
    caller: str,
    *,
    now: datetime | None = None,
    progress: bool = True,
) -> EpochRun:
    """One scheduled run; ``keyring`` wraps with the epochs it rotates."""
    store = keyring.epochs
    if not isinstance(store, EpochStore):
        raise ValueError("KEK epochs are not configured (BLINDPOST_VAULT_KEK_EPOCHS_DIR)")
    at = now or datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        await _record_directory(conn, store, at)
        current, created = await _current_epoch(conn, store, policy, at)
        run = EpochRun(current=current, created=current if created else None)
        await _unretire_in_use(conn)
        rewrapped = await rewrap_all(conn, keyring, progress=progress)
        run.rewrapped, run.rewrapped_content_keys = rewrapped.data_keys, rewrapped.content_keys
        await _retire_and_destroy(conn, store, policy, at, run)
        await audit_operation(
            conn,
            Caller(caller, Scope.ADMIN, "rotate-epochs"),
            purpose="kek-epochs",
            detail=(
                f"current={run.current} created={run.created or '-'} "
                f"rewrapped={run.rewrapped} content_keys={run.rewrapped_content_keys} "
                f"retired={','.join(run.retired) or '-'} "
                f"destroyed={','.join(run.destroyed) or '-'}"
            ),
        )
    finally:
        await conn.close()
    return run


async def _record_directory(conn: asyncpg.Connection, store: EpochStore, at: datetime) -> None:
    """The table follows the directory: an epoch it lacks (a crash between the two, or a
    database restored from a backup) is recorded, and what the directory says was destroyed
    is recorded as destroyed."""
    for kek_id in store.keys():
        await conn.execute(
            "INSERT INTO kek_epochs (kek_id, started_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            kek_id,
            at,
        )
    for kek_id, when in store.destroyed().items():
        await conn.execute(
            """INSERT INTO kek_epochs (kek_id, started_at, destroyed_at) VALUES ($1, $2, $2)
               ON CONFLICT (kek_id) DO UPDATE
               SET destroyed_at = coalesce(kek_epochs.destroyed_at, EXCLUDED.destroyed_at)""",
            kek_id,
            datetime.fromisoformat(when),
        )


async def _current_epoch(
    conn: asyncpg.Connection, store: EpochStore, policy: EpochPolicy, at: datetime
) -> tuple[str, bool]:
    """The epoch to wrap with, and whether this run created it."""
    current = store.current()
    if current is not None:
        started = await conn.fetchval(
            "SELECT started_at FROM kek_epochs WHERE kek_id = $1", current
        )
        if started + policy.epoch > at:
            return current, False
    current = store.create()
    await conn.execute("INSERT INTO kek_epochs (kek_id, started_at) VALUES ($1, $2)", current, at)
    return current, True


async def _unretire_in_use(conn: asyncpg.Connection) -> None:
    """A retired epoch that wraps a data key again (a vault replica that had not yet seen the
    new epoch) is needed by the backups taken since: its retention starts again when the
    re-wrap below has moved that key."""
    await conn.execute(
        f"""UPDATE kek_epochs SET retired_at = NULL
           WHERE retired_at IS NOT NULL AND destroyed_at IS NULL
             AND kek_id IN (SELECT kek_id FROM ({WRAPPED_KEYS_KEKS}) AS wrapped)"""  # noqa: S608
    )


async def _retire_and_destroy(
    conn: asyncpg.Connection, store: EpochStore, policy: EpochPolicy, at: datetime, run: EpochRun
) -> None:
    rows = await conn.fetch(
        "SELECT kek_id, retired_at FROM kek_epochs WHERE destroyed_at IS NULL AND kek_id <> $1",
        run.current,
    )
    for row in sorted(rows, key=lambda r: epoch_number(r["kek_id"]) or 0):
        kek_id, retired_at = row["kek_id"], row["retired_at"]
        async with conn.transaction():
            in_use = await conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM ({WRAPPED_KEYS_KEKS}) AS w WHERE kek_id = $1)",  # noqa: S608
                kek_id,
            )
            if in_use:
                # Wrapped during this run by a replica that had not seen the new epoch yet:
                # the next run re-wraps it, and the retention counts from then.
                await conn.execute(
                    "UPDATE kek_epochs SET retired_at = NULL WHERE kek_id = $1", kek_id
                )
                continue
            if retired_at is None:
                retired_at = at
                await conn.execute(
                    "UPDATE kek_epochs SET retired_at = $2 WHERE kek_id = $1", kek_id, at
                )
                run.retired.append(kek_id)
            due = retired_at + policy.retention
            if due > at:
                run.waiting[kek_id] = due
                continue
            store.destroy(kek_id, at)
            await conn.execute(
                "UPDATE kek_epochs SET destroyed_at = $2 WHERE kek_id = $1", kek_id, at
            )
            run.destroyed.append(kek_id)
