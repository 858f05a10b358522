"""Moving the blind index to the active key after a rotation.  A bucket cannot be re-keyed
without the address, so each subject's addresses are decrypted (the vault holds the keys)
and indexed again, a batch per transaction: a re-index stopped half-way resumes where it
stopped, and lookups search every configured key version meanwhile."""

from __future__ import annotations

import asyncpg

from services.vault import audit_store
from services.vault import repository as repo
from services.vault.access import Caller, Scope, audit_entry
from services.vault.audit import AuditEntry, Decision
from services.vault.crypto import BlindIndex, Keyring
from services.vault.domain import ContactField, blind_index_input
from services.vault.operations import audit_operation
from services.vault.writes import subject_cipher

PURPOSE = "blind-index-rotation"


async def reindex_blind_index(
    dsn: str, keyring: Keyring, blind_index: BlindIndex, caller: str, *, batch_size: int = 500
) -> int:
    """The number of subjects re-indexed under ``blind_index.version``."""
    conn = await asyncpg.connect(dsn)
    operator = Caller(caller, Scope.ADMIN, "reindex")
    moved = 0
    try:
        while True:
            async with conn.transaction():
                ids = await conn.fetch(
                    "SELECT DISTINCT ext_user_id FROM blind_index WHERE key_version <> $1"
                    " ORDER BY 1 LIMIT $2",
                    blind_index.version,
                    batch_size,
                )
                if not ids:
                    break
                subjects = await repo.load_subjects(
                    conn, [r["ext_user_id"] for r in ids], for_update=True
                )
                await conn.execute(
                    "DELETE FROM blind_index WHERE ext_user_id = ANY($1::text[])", list(subjects)
                )
                decrypted: list[AuditEntry] = []
                for subject in subjects.values():
                    if subject.erased or subject.wrapped_key is None:
                        continue
                    cipher = subject_cipher(keyring, subject)
                    digests: dict[ContactField, bytes | None] = {
                        field: blind_index.digest(
                            blind_index_input(field, cipher.decrypt(field.value, ciphertext))
                        )
                        for field, ciphertext in subject.ciphertexts.items()
                    }
                    await repo.replace_blind_index(
                        conn, subject.ext_user_id, digests, blind_index.version
                    )
                    # Each subject's addresses were decrypted: its own trail says so.
                    decrypted.append(
                        audit_entry(
                            operator,
                            Decision.KEYS_ROTATED,
                            purpose=PURPOSE,
                            ext_user_id=subject.ext_user_id,
                            fields=tuple(sorted(field.value for field in digests)),
                            detail=f"re-indexed under version {blind_index.version}",
                        )
                    )
                await audit_store.append_audit(conn, decrypted)
            moved += len(ids)
        await audit_operation(
            conn,
            operator,
            purpose=PURPOSE,
            detail=f"reindexed={moved} version={blind_index.version}",
        )
    finally:
        await conn.close()
    return moved
