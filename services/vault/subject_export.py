"""Subject access: everything Blindpost holds about one player, for the player (GDPR art. 15)
— the contact data decrypted, opt-outs and suppressions, the messages sent and their
statuses, and every access to the data with its principal and purpose.

The decrypted data leaves the vault only with its audit row (purpose ``subject-access``)
written in the same transaction: no audit row, no export."""

from __future__ import annotations

import asyncpg

from services.vault import audit_store
from services.vault import repository as repo
from services.vault.access import Caller, Scope, audit_entry, now
from services.vault.audit import Decision
from services.vault.crypto import Keyring
from services.vault.subject_records import audit_trail, iso, message_states
from services.vault.writes import subject_cipher

PURPOSE = "subject-access"
SUPPRESSIONS = (
    "SELECT channel, reason, source, ext_message_id, detail, created_at FROM suppressions"
    " WHERE ext_user_id = $1 ORDER BY created_at"
)


def _data_held(subject: repo.StoredSubject | None, keyring: Keyring) -> dict[str, object]:
    if subject is None:
        return {"state": "unknown: no record of this subject"}
    if subject.erased:
        return {"state": "erased", "erased_at": iso(subject.erased_at)}
    cipher = subject_cipher(keyring, subject)
    return {
        "state": "held",
        "contacts": {f.value: cipher.decrypt(f.value, ct) for f, ct in subject.ciphertexts.items()},
        "locale": subject.locale,
        "opted_out": sorted(subject.opted_out),
        "channels": sorted(subject.channels),
    }


async def subject_export(
    vault_dsn: str, keyring: Keyring, ext_user_id: str, caller: str, events_dsn: str | None
) -> dict[str, object]:
    conn = await asyncpg.connect(vault_dsn)
    try:
        async with conn.transaction(isolation="repeatable_read"):
            subject = await repo.load_subject(conn, ext_user_id)
            held = _data_held(subject, keyring)
            suppressions = [
                {
                    **dict(row),
                    "ext_message_id": str(row["ext_message_id"]) if row["ext_message_id"] else None,
                    "created_at": iso(row["created_at"]),
                }
                for row in await conn.fetch(SUPPRESSIONS, ext_user_id)
            ]
            contacts = held.get("contacts")
            fields = tuple(sorted(contacts)) if isinstance(contacts, dict) else ()
            operator = Caller(caller, Scope.ADMIN, PURPOSE)
            entry = audit_entry(
                operator,
                Decision.READ if fields else Decision.NOT_FOUND,
                ext_user_id=ext_user_id,
                purpose=PURPOSE,
                fields=fields,
            )
            await audit_store.append_audit(conn, [entry])
            # Read after the export's own row, so that the export lists itself too.
            accesses = await audit_trail(conn, ext_user_id)
    finally:
        await conn.close()
    return {
        "kind": "blindpost subject access export",
        "ext_user_id": ext_user_id,
        "generated_at": now().isoformat(),
        "generated_by": caller,
        "audit_id": str(entry.audit_id),
        "data_held": held,
        "suppressions": suppressions,
        "messages": await message_states(events_dsn, ext_user_id),
        "accesses": accesses,
    }
