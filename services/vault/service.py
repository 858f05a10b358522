"""The vault's use cases.  Each one is a single database transaction in which the access and
its audit row are written together (no audit row, no data), followed by the Kafka facts,
acknowledged before the caller gets an answer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import asyncpg

from services.vault import repository as repo
from services.vault.audit import AuditEntry, Decision
from services.vault.crypto import BlindIndex, IntegrityError, Keyring, SubjectCipher
from services.vault.domain import (
    ContactField,
    SubjectChange,
    blind_index_input,
    field_for,
    mask,
    normalise_email,
    normalise_phone,
)
from services.vault.group_commit import GroupCommit
from services.vault.publisher import Publisher
from services.vault.writes import apply_change
from shared.domain import Channel
from shared.logging import get_logger
from shared.subject_facts import SubjectFacts

log = get_logger(__name__)

RESOLVE_PURPOSES = frozenset({"dispatch"})


class Scope(StrEnum):
    ADMIN = "admin"
    RESOLVER = "resolver"
    AUDITOR = "auditor"
    UNSUBSCRIBE = "unsubscribe"
    NONE = "none"


@dataclass(frozen=True)
class Caller:
    name: str
    scope: Scope
    request_id: str


class NotFound(Exception):
    pass


@dataclass(frozen=True)
class ContactRequest:
    ext_user_id: str
    channel: Channel
    ext_message_id: uuid.UUID


@dataclass(frozen=True)
class _ResolveCall:
    caller: Caller
    purpose: str
    requests: list[ContactRequest]


def now() -> datetime:
    return datetime.now(UTC)


def facts_of(subject: repo.StoredSubject) -> SubjectFacts:
    return SubjectFacts(
        ext_user_id=subject.ext_user_id,
        channels=frozenset(Channel(c) for c in subject.channels),
        opted_out=frozenset(Channel(c) for c in subject.opted_out),
        updated_at=now(),
        version=subject.facts_version,
    )


class VaultService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        keyring: Keyring,
        blind_index: BlindIndex,
        publisher: Publisher,
        audit_committed: Callable[[], None] = lambda: None,
    ) -> None:
        self.pool = pool
        self.keyring = keyring
        self.blind_index = blind_index
        self.publisher = publisher
        # Audit facts reach Kafka through the relay (an outbox on the audit table), told here
        # that there is something new; subject facts are published inline, acknowledged.
        self.audit_committed = audit_committed
        self._reads: GroupCommit[_ResolveCall, list[dict[str, object]]] = GroupCommit(
            self._resolve_calls
        )

    def _entry(self, caller: Caller, decision: Decision, **kwargs: object) -> AuditEntry:
        return AuditEntry(
            caller=caller.name,
            scope=caller.scope.value,
            decision=decision,
            request_id=caller.request_id,
            at=now(),
            **kwargs,  # type: ignore[arg-type]
        )

    def _cipher(self, subject: repo.StoredSubject) -> SubjectCipher:
        if subject.wrapped_key is None:
            raise IntegrityError("subject has no data key")
        dek = self.keyring.unwrap(subject.wrapped_key, subject.ext_user_id, subject.key_version)
        return SubjectCipher(dek, subject.ext_user_id, subject.key_version)

    async def refuse(self, caller: Caller, decision: Decision, **kwargs: object) -> AuditEntry:
        """Record a refused request.  Refusals are audited like any access."""
        entry = self._entry(caller, decision, **kwargs)
        async with self.pool.acquire() as conn, conn.transaction():
            await repo.append_audit(conn, [entry])
        self.audit_committed()
        return entry

    # --- admin ---------------------------------------------------------------------------

    async def write(self, caller: Caller, change: SubjectChange) -> SubjectFacts:
        async with self.pool.acquire() as conn, conn.transaction():
            current = await repo.load_subject(conn, change.ext_user_id, for_update=True)
            applied = apply_change(current, change, self.keyring, self.blind_index)
            subject = applied.subject
            await repo.save_subject(conn, subject, new_key=applied.new_key)
            await repo.replace_blind_index(conn, subject.ext_user_id, applied.digests)
            entry = self._entry(
                caller,
                Decision.WRITTEN,
                ext_user_id=change.ext_user_id,
                fields=tuple(change.changed_fields),
                purpose="admin-write",
            )
            await repo.append_audit(conn, [entry])
        facts = facts_of(subject)
        await self.publisher.subject_facts([facts])
        self.audit_committed()
        return facts

    async def erase(self, caller: Caller, ext_user_id: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            subject = await repo.load_subject(conn, ext_user_id, for_update=True)
            if subject is None or subject.erased:
                entry = self._entry(
                    caller, Decision.NOT_FOUND, ext_user_id=ext_user_id, purpose="erasure"
                )
                await repo.append_audit(conn, [entry])
            else:
                await repo.erase_subject(conn, ext_user_id, subject.facts_version + 1)
                entry = self._entry(
                    caller,
                    Decision.ERASED,
                    ext_user_id=ext_user_id,
                    purpose="erasure",
                    fields=tuple(sorted(f.value for f in subject.ciphertexts)),
                )
                await repo.append_audit(conn, [entry])
        if entry.decision is Decision.NOT_FOUND:
            self.audit_committed()
            raise NotFound(ext_user_id)
        await self.publisher.tombstone(ext_user_id)
        self.audit_committed()

    async def read_masked(self, caller: Caller, ext_user_id: str) -> dict[str, object]:
        answer: dict[str, object] | None
        async with self.pool.acquire() as conn, conn.transaction():
            subject = await repo.load_subject(conn, ext_user_id)
            if subject is None or subject.erased:
                entry = self._entry(
                    caller, Decision.NOT_FOUND, ext_user_id=ext_user_id, purpose="admin-read"
                )
                answer = None
            else:
                cipher = self._cipher(subject)
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
                entry = self._entry(
                    caller,
                    Decision.READ_MASKED,
                    ext_user_id=ext_user_id,
                    purpose="admin-read",
                    fields=tuple(sorted(masked)),
                )
            await repo.append_audit(conn, [entry])
        self.audit_committed()
        if answer is None:
            raise NotFound(ext_user_id)
        return answer

    async def lookup(self, caller: Caller, field: ContactField, value: str) -> list[str]:
        normalised = (
            normalise_email(value) if field is ContactField.EMAIL else normalise_phone(value)
        )
        digest = self.blind_index.digest(blind_index_input(field, normalised))
        async with self.pool.acquire() as conn, conn.transaction():
            found = await repo.lookup_digest(conn, field, digest)
            entry = self._entry(
                caller,
                Decision.LOOKED_UP,
                fields=(field.value,),
                purpose="admin-lookup",
                detail=f"{len(found)} subjects",
            )
            await repo.append_audit(conn, [entry])
        self.audit_committed()
        return found

    # --- resolver ------------------------------------------------------------------------

    async def resolve(
        self, caller: Caller, purpose: str, requests: list[ContactRequest]
    ) -> list[dict[str, object]]:
        """One address per request, each read audited with its message id; the answer is
        only given once the audit rows are committed (no audit row, no data)."""
        return await self._reads.submit(_ResolveCall(caller, purpose, requests))

    async def _resolve_calls(self, calls: list[_ResolveCall]) -> list[list[dict[str, object]]]:
        answers: list[list[dict[str, object]]] = []
        entries: list[AuditEntry] = []
        async with self.pool.acquire() as conn, conn.transaction():
            ids = sorted({r.ext_user_id for call in calls for r in call.requests})
            subjects = await repo.load_subjects(conn, ids)
            ciphers: dict[str, SubjectCipher] = {}
            for call in calls:
                results = []
                for request in call.requests:
                    result, entry = self._resolve_one(
                        call.caller, call.purpose, request, subjects, ciphers
                    )
                    results.append(result)
                    entries.append(entry)
                answers.append(results)
            await repo.append_audit(conn, entries)
        self.audit_committed()
        return answers

    def _resolve_one(
        self,
        caller: Caller,
        purpose: str,
        request: ContactRequest,
        subjects: dict[str, repo.StoredSubject],
        ciphers: dict[str, SubjectCipher],
    ) -> tuple[dict[str, object], AuditEntry]:
        subject = subjects.get(request.ext_user_id)
        fields: tuple[str, ...] = ()
        status, decision, address = "ok", Decision.READ, None
        if subject is None:
            status, decision = "user_not_found", Decision.NOT_FOUND
        elif subject.erased:
            status, decision = "erased", Decision.ERASED_SUBJECT
        elif request.channel.value in subject.opted_out:
            status, decision = "opted_out", Decision.OPTED_OUT
        elif request.channel is Channel.CIM:
            address = subject.ext_user_id
        else:
            field = field_for(request.channel, set(subject.ciphertexts))
            if field is None:
                status, decision = "no_address", Decision.NO_ADDRESS
            else:
                fields = (field.value,)
                try:
                    cipher = ciphers.get(subject.ext_user_id) or self._cipher(subject)
                    ciphers[subject.ext_user_id] = cipher
                    address = cipher.decrypt(field.value, subject.ciphertexts[field])
                except IntegrityError as exc:
                    log.error(
                        "vault ciphertext does not open",
                        ext_user_id=subject.ext_user_id,
                        field=field.value,
                        error=str(exc),
                    )
                    status, decision = "integrity_failure", Decision.INTEGRITY_FAILURE
        entry = self._entry(
            caller,
            decision,
            purpose=purpose,
            ext_user_id=request.ext_user_id,
            fields=fields,
            ext_message_id=request.ext_message_id,
            detail=request.channel.value,
        )
        result: dict[str, object] = {
            "ext_message_id": str(request.ext_message_id),
            "status": status,
            "audit_id": str(entry.audit_id),
        }
        if status == "ok":
            result["address"] = address
            result["locale"] = subject.locale if subject else None
        return result, entry

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
            entry = self._entry(
                caller,
                Decision.WRITTEN if found else Decision.NOT_FOUND,
                purpose=source,
                ext_user_id=ext_user_id,
                fields=("opted_out",),
                ext_message_id=ext_message_id,
                detail=channel.value,
            )
            await repo.append_audit(conn, [entry])
        if found:
            assert subject is not None
            await self.publisher.subject_facts([facts_of(subject)])
        self.audit_committed()
        if not found:
            raise NotFound(ext_user_id)

    # --- auditor -------------------------------------------------------------------------

    async def audit_trail(
        self, caller: Caller, ext_user_id: str, since: datetime | None
    ) -> list[dict[str, object]]:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await repo.audit_for_subject(conn, ext_user_id, since)
            entry = self._entry(
                caller,
                Decision.AUDIT_READ,
                ext_user_id=ext_user_id,
                purpose="audit",
            )
            await repo.append_audit(conn, [entry])
        self.audit_committed()
        return [{"seq": seq, **e.facts()} for seq, e in rows]
