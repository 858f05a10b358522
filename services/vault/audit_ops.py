"""`blindpost audit verify` and `blindpost audit prune`: checking the stored chain against
its signed checkpoints and published facts, and dropping rows past the retention period
while keeping the rest verifiable from a checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from services.vault import audit_store
from services.vault.access import Caller, Scope, audit_entry, now
from services.vault.audit import Decision, Verdict
from services.vault.audit_anchors import AnchoredVerifier, Witnesses
from services.vault.checkpoints import CheckpointKeys


async def verify_chain(
    dsn: str, keys: CheckpointKeys | None = None, witnesses: Witnesses | None = None
) -> Verdict:
    """The chain from its anchor to its head, held against the checkpoints (stored and in
    ``witnesses``) that ``keys`` verify and against the published facts in ``witnesses``."""
    witnesses = witnesses or Witnesses()
    conn = await asyncpg.connect(dsn)
    try:
        # One snapshot for the head and the rows, while appends carry on.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            head = await audit_store.audit_head(conn)
            anchor = await audit_store.audit_anchor(conn)
            witnesses.checkpoints += await audit_store.stored_checkpoints(conn)
            verifier = AnchoredVerifier(
                keys or CheckpointKeys([]), witnesses, anchor.seq, anchor.hash
            )
            async for row in audit_store.iter_audit_rows(conn):
                verifier.feed(row)
            return verifier.finish(head.seq, head.hash)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Pruned:
    rows: int
    through_seq: int


async def prune_audit(
    owner_dsn: str, keys: CheckpointKeys, retention_days: int, caller: str
) -> Pruned:
    """Delete the rows older than ``retention_days`` up to the newest validly signed
    checkpoint among them that the stored chain matches; the chain then starts there.  As
    the owner (the runtime role may not delete).  The prune itself is audited."""
    cutoff = now() - timedelta(days=retention_days)
    conn = await asyncpg.connect(owner_dsn)
    try:
        async with conn.transaction():
            candidates = await audit_store.stored_checkpoints(conn)
            old_enough = {
                row["seq"]: bytes(row["row_hash"])
                for row in await conn.fetch(
                    "SELECT l.seq, l.row_hash FROM audit_log l JOIN audit_checkpoints c"
                    " USING (seq) WHERE l.at < $1",
                    cutoff,
                )
            }
            usable = [
                c for c in candidates if old_enough.get(c.seq) == c.head_hash and keys.valid(c)
            ]
            if not usable:
                return Pruned(0, 0)
            anchor = max(usable, key=lambda c: c.seq)
            rows = await audit_store.prune_through(
                conn, audit_store.ChainPoint(anchor.seq, anchor.head_hash)
            )
            entry = audit_entry(
                Caller(caller, Scope.ADMIN, "audit-prune"),
                Decision.PRUNED,
                purpose="audit-retention",
                detail=f"pruned={rows} through_seq={anchor.seq} retention_days={retention_days}",
            )
            await audit_store.append_audit(conn, [entry])
    finally:
        await conn.close()
    return Pruned(rows, anchor.seq)
