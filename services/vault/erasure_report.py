"""The proof of an erasure a data-protection officer can hand over: what was destroyed (the
subject's data key, its contact ciphertexts, index digests, suppressions), when and by whom
(the erasure's audit row), until when backups taken before it can still open the key
(services/vault/backup_keks.py), and what remains and why (the tombstone, the audit trail, the
message records in the event store), tied to the audit chain's head and signed
(services/vault/signed_report.py).  Generating it is itself audited."""

from __future__ import annotations

import asyncpg

from services.vault import audit_store
from services.vault import repository as repo
from services.vault.access import Caller, Scope, audit_entry, now
from services.vault.audit import Decision
from services.vault.backup_keks import backup_exposure, epoch_lifecycles
from services.vault.content_keys import FIELD as CONTENT_KEY
from services.vault.epoch_rotation import EpochPolicy
from services.vault.subject_records import audit_trail, iso, message_states
from services.vault.tombstones import wrapping_keks

REMAINS_WHY = {
    "tombstone": "the ext_user_id and the time of erasure, so that a message in flight ends "
    "failed with reason erased and a later write is refused (no contact data)",
    "audit trail": "the record of every access to the subject's data, kept for "
    "accountability; it names fields, never values",
    "messages": "delivery records in the event store (message ids, channels, statuses); they "
    "hold no address",
}


def _destroyed(
    erasure: dict[str, object],
    epochs: dict[str, asyncpg.Record],
    configured_keks: set[str],
    policy: EpochPolicy,
) -> dict[str, object]:
    detail = str(erasure["detail"] or "")
    fields = list(erasure["fields"])  # type: ignore[call-overload]
    return {
        "at": erasure["at"],
        "by": {"principal": erasure["principal"], "scope": erasure["scope"]},
        "audit_seq": erasure["seq"],
        "data_key": detail or "the subject's data key (its KEK was not recorded then)",
        "contact_ciphertexts": [f for f in fields if f != CONTENT_KEY],
        # Every subject, body and extension sealed under it, wherever a copy is kept.
        "content_key": "destroyed" if CONTENT_KEY in fields else "none held",
        "also": ["blind-index digests", "suppressions", "locale and opt-outs"],
        **backup_exposure(wrapping_keks(detail), epochs, configured_keks, policy),
    }


async def erasure_report(
    vault_dsn: str,
    ext_user_id: str,
    caller: str,
    configured_keks: set[str],
    events_dsn: str | None = None,
    policy: EpochPolicy = EpochPolicy(30, 35),
) -> dict[str, object]:
    """The unsigned report; raises LookupError when no erasure of ``ext_user_id`` is in the
    audit log."""
    conn = await asyncpg.connect(vault_dsn)
    try:
        async with conn.transaction(isolation="repeatable_read"):
            subject = await repo.load_subject(conn, ext_user_id)
            trail = await audit_trail(conn, ext_user_id)
            erasures = [r for r in trail if r["decision"] == Decision.ERASED.value]
            if not erasures:
                raise LookupError(ext_user_id)
            epochs = await epoch_lifecycles(conn)
            head = await audit_store.audit_head(conn)
            operator = Caller(caller, Scope.AUDITOR, "erasure-report")
            recorded = audit_entry(
                operator, Decision.AUDIT_READ, ext_user_id=ext_user_id, purpose="erasure-report"
            )
            await audit_store.append_audit(conn, [recorded])
    finally:
        await conn.close()
    state = "erased" if subject is not None and subject.erased else "written again after erasure"
    return {
        "kind": "blindpost erasure report",
        "ext_user_id": ext_user_id,
        "generated_at": now().isoformat(),
        "generated_by": caller,
        "state": state,
        "erased_at": iso(subject.erased_at) if subject else None,
        "destroyed": [_destroyed(e, epochs, configured_keks, policy) for e in erasures],
        "remains": {
            "tombstone": {
                "why": REMAINS_WHY["tombstone"],
                "ext_user_id": ext_user_id,
                "key_version": subject.key_version if subject else None,
            },
            "audit_trail": {"why": REMAINS_WHY["audit trail"], "rows": trail},
            "messages": {
                "why": REMAINS_WHY["messages"],
                **await message_states(events_dsn, ext_user_id),
            },
        },
        "audit_chain": {
            "head_seq": head.seq,
            "head_hash": head.hash.hex(),
            "report_audit_id": str(recorded.audit_id),
        },
    }
