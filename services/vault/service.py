"""The vault's use cases.  Each one is a single database transaction in which the access and
its audit row are written together (no audit row, no data), followed by the Kafka facts,
acknowledged before the caller gets an answer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg

from services.vault import audit_store, content_keys, suppressions
from services.vault import repository as repo
from services.vault.access import Caller, NotFound, Scope, Throttled, audit_entry
from services.vault.audit import AuditEntry, Decision
from services.vault.crypto import BlindIndex, Keyring
from services.vault.domain import (
    ContactField,
    SubjectChange,
    blind_index_input,
    mask,
    normalise_email,
    normalise_phone,
)
from services.vault.metrics import REFUSALS
from services.vault.publisher import Publisher
from services.vault.resolve import ContactRequest, ContactResolver
from services.vault.throttle import TokenBucket
from services.vault.tombstones import (
    ErasedSubject,
    ErasureOverride,
    destroyed_key_detail,
    erasure_detail,
    write_decision,
)
from services.vault.writes import apply_change, facts_of, subject_cipher
from shared.domain import Channel
from shared.subject_facts import SubjectFacts
from shared.tickets import TicketVerifier

# Caller, ContactRequest and Scope are re-exported for app.py and tests/vault, which import
# them from here; new code imports them from access and resolve.
__all__ = ["Caller", "ContactRequest", "Scope", "VaultService"]


class VaultService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        keyring: Keyring,
        blind_index: BlindIndex,
        publisher: Publisher,
        audit_committed: Callable[[], None] = lambda: None,
        lookups_per_minute: float = 60.0,
        tickets: TicketVerifier | None = None,
        content_key_period_days: int = 7,
    ) -> None:
        self.pool = pool
        self.keyring = keyring
        self.blind_index = blind_index
        self.publisher = publisher
        # Audit facts reach Kafka through the relay (an outbox on the audit table), told here
        # that there is something new; subject facts are published inline, acknowledged.
        self.audit_committed = audit_committed
        # Without ticket keys (an operator command) no resolver read is admitted.
        self._resolver = ContactResolver(
            pool, keyring, audit_committed, tickets or TicketVerifier([])
        )
        self.content_keys = content_keys.ContentKeys(
            pool, keyring, audit_committed, content_key_period_days
        )
        self.lookups = TokenBucket(lookups_per_minute / 60, burst=max(1, int(lookups_per_minute)))

    async def refuse(self, caller: Caller, decision: Decision, **kwargs: object) -> AuditEntry:
        """Record a refused request.  Refusals are audited like any access."""
        entry = audit_entry(caller, decision, **kwargs)
        REFUSALS.labels(caller.scope.value, decision.value).inc()
        async with self.pool.acquire() as conn, conn.transaction():
            await audit_store.append_audit(conn, [entry])
        self.audit_committed()
        return entry

    async def refuse_anonymous(self, counts: dict[str, int]) -> None:
        """One row for every request refused for want of a token since the last one."""
        detail = ", ".join(f"{operation}={n}" for operation, n in sorted(counts.items()))
        caller = Caller("anonymous", Scope.NONE, "aggregate")
        await self.refuse(caller, Decision.REFUSED_UNAUTHENTICATED, detail=detail[:1000])

    # --- admin ---------------------------------------------------------------------------

    async def write(
        self, caller: Caller, change: SubjectChange, override: ErasureOverride | None = None
    ) -> SubjectFacts:
        """Raises :class:`ErasedSubject` (audited) for a tombstone without ``override``."""
        recorded = {
            "ext_user_id": change.ext_user_id,
            "fields": tuple(change.changed_fields),
            "purpose": "admin-write",
        }
        async with self.pool.acquire() as conn, conn.transaction():
            current = await repo.load_subject(conn, change.ext_user_id, for_update=True)
            try:
                decision = write_decision(current, override)
            except ErasedSubject:
                refused = audit_entry(caller, Decision.REFUSED_ERASED, **recorded)
                await audit_store.append_audit(conn, [refused])
                decision = Decision.REFUSED_ERASED
            else:
                applied = apply_change(current, change, self.keyring, self.blind_index)
                subject = applied.subject
                await repo.save_subject(conn, subject, new_key=applied.new_key)
                await repo.replace_blind_index(
                    conn, subject.ext_user_id, applied.digests, self.blind_index.version
                )
                overriding = decision is Decision.ERASURE_OVERRIDDEN
                detail = override.detail if override and overriding else None
                entry = audit_entry(caller, decision, detail=detail, **recorded)
                chain_point = await audit_store.append_audit(conn, [entry])
        if decision is Decision.REFUSED_ERASED:
            self.audit_committed()
            raise ErasedSubject(change.ext_user_id)
        facts = facts_of(subject, chain_point)
        await self.publisher.subject_facts([facts])
        self.audit_committed()
        return facts

    async def erase(self, caller: Caller, ext_user_id: str) -> None:
        """The subject's data key and its content key go (either may exist alone: a
        preview's player may be unknown here); nothing held at all is ``NotFound``."""
        async with self.pool.acquire() as conn, conn.transaction():
            subject = await repo.load_subject(conn, ext_user_id, for_update=True)
            known = subject is not None and not subject.erased
            detail, fields, removals = None, [], []
            if subject is not None and known:
                kek = await repo.erase_subject(conn, ext_user_id, subject.facts_version + 1)
                removals = await suppressions.clear(conn, ext_user_id, caller.name)
                fields = sorted(f.value for f in subject.ciphertexts)
                # What the erasure report tells about backups: which KEK still wraps
                # a copy of the destroyed key in them.
                detail = destroyed_key_detail(subject.key_version, kek)
            content_kek = await content_keys.destroy(conn, ext_user_id)
            if content_kek is not None:
                fields.append(content_keys.FIELD)
            detail = erasure_detail(detail, content_kek)
            decision = Decision.ERASED if known or content_kek else Decision.NOT_FOUND
            entry = audit_entry(
                caller,
                decision,
                ext_user_id=ext_user_id,
                purpose="erasure",
                fields=tuple(fields),
                detail=detail,
            )
            await audit_store.append_audit(conn, [entry])
            if removals:  # before the commit, as every suppression removal
                await self.publisher.events(removals)
        if decision is Decision.NOT_FOUND:
            self.audit_committed()
            raise NotFound(ext_user_id)
        if known:
            await self.publisher.tombstone(ext_user_id)
        self.audit_committed()

    async def read_masked(self, caller: Caller, ext_user_id: str) -> dict[str, object]:
        answer: dict[str, object] | None
        async with self.pool.acquire() as conn, conn.transaction():
            subject = await repo.load_subject(conn, ext_user_id)
            if subject is None or subject.erased:
                entry = audit_entry(
                    caller, Decision.NOT_FOUND, ext_user_id=ext_user_id, purpose="admin-read"
                )
                answer = None
            else:
                cipher = subject_cipher(self.keyring, subject)
                masked = {
                    f.value: mask(f, cipher.decrypt(f.value, ct))
                    for f, ct in subject.ciphertexts.items()
                }
                answer = {
                    "ext_user_id": ext_user_id,
                    **masked,
                    "locale": subject.locale,
                    "opted_out": sorted(subject.opted_out),
                    "channels": sorted(subject.channels),
                }
                entry = audit_entry(
                    caller,
                    Decision.READ_MASKED,
                    ext_user_id=ext_user_id,
                    purpose="admin-read",
                    fields=tuple(sorted(masked)),
                )
            await audit_store.append_audit(conn, [entry])
        self.audit_committed()
        if answer is None:
            raise NotFound(ext_user_id)
        return answer

    async def lookup(self, caller: Caller, field: ContactField, value: str) -> list[str]:
        """Who has this address.  An address oracle, so throttled, and every subject found
        has the lookup in its own audit trail."""
        normalised = (
            normalise_email(value) if field is ContactField.EMAIL else normalise_phone(value)
        )
        if not self.lookups.take():
            await self.refuse(
                caller, Decision.REFUSED_THROTTLED, fields=(field.value,), purpose="admin-lookup"
            )
            raise Throttled
        wanted = blind_index_input(field, normalised)
        async with self.pool.acquire() as conn, conn.transaction():
            bucket = await repo.lookup_buckets(conn, field, self.blind_index.buckets(wanted))
            candidates = await repo.load_subjects(conn, bucket)
            found = [u for u in bucket if self.holds(candidates[u], field, wanted)]
            recorded = {"fields": (field.value,), "purpose": "admin-lookup"}
            entries = [
                audit_entry(caller, Decision.LOOKED_UP, ext_user_id=u, **recorded) for u in found
            ] or [audit_entry(caller, Decision.LOOKED_UP, detail="0 subjects", **recorded)]
            await audit_store.append_audit(conn, entries)
        self.audit_committed()
        return found

    def holds(self, subject: repo.StoredSubject, field: ContactField, wanted: str) -> bool:
        """A bucket holds many addresses: the stored one decides."""
        ciphertext = subject.ciphertexts.get(field)
        if subject.erased or ciphertext is None:
            return False
        value = subject_cipher(self.keyring, subject).decrypt(field.value, ciphertext)
        return blind_index_input(field, value) == wanted

    # --- resolver ------------------------------------------------------------------------

    async def resolve(
        self, caller: Caller, purpose: str, requests: list[ContactRequest]
    ) -> list[dict[str, object]]:
        """One address per request, each read audited with its message id; the answer is
        only given once the audit rows are committed (no audit row, no data)."""
        return await self._resolver.resolve(caller, purpose, requests)

    # --- unsubscribe ---------------------------------------------------------------------

    async def record_opt_out(
        self,
        caller: Caller,
        ext_user_id: str,
        channel: Channel,
        ext_message_id: uuid.UUID | None,
        source: str,
    ) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            subject = await repo.load_subject(conn, ext_user_id, for_update=True)
            found = subject is not None and not subject.erased
            if found:
                assert subject is not None
                subject.opted_out.add(channel.value)
                subject.facts_version += 1
                await repo.save_subject(conn, subject, new_key=None)
            entry = audit_entry(
                caller,
                Decision.WRITTEN if found else Decision.NOT_FOUND,
                purpose=source,
                ext_user_id=ext_user_id,
                fields=("opted_out",),
                ext_message_id=ext_message_id,
                detail=channel.value,
            )
            recorded = await audit_store.append_audit(conn, [entry])
        if found:
            assert subject is not None
            await self.publisher.subject_facts([facts_of(subject, recorded)])
        self.audit_committed()
        if not found:
            raise NotFound(ext_user_id)

    # --- auditor -------------------------------------------------------------------------

    async def audit_trail(
        self, caller: Caller, ext_user_id: str, since: datetime | None
    ) -> list[dict[str, object]]:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await audit_store.audit_for_subject(conn, ext_user_id, since)
            entry = audit_entry(
                caller,
                Decision.AUDIT_READ,
                ext_user_id=ext_user_id,
                purpose="audit",
            )
            await audit_store.append_audit(conn, [entry])
        self.audit_committed()
        return [{"seq": seq, **e.facts()} for seq, e in rows]
