"""The resolver's read: one address per request, each read audited with its message id.
Concurrent calls share one transaction (group commit); the answer is only given once the
audit rows are committed (no audit row, no data).

A request is read only against a valid resolution ticket (``shared.tickets``), checked
before the subject is loaded: a refused one is answered ``ticket_refused`` with the reason,
the same whether the player exists or not, and audited as ``refused_ticket``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from services.vault import audit_store
from services.vault import repository as repo
from services.vault.access import Caller, audit_entry
from services.vault.audit import AuditEntry, Decision
from services.vault.crypto import IntegrityError, Keyring, SubjectCipher
from services.vault.domain import field_for
from services.vault.group_commit import GroupCommit
from services.vault.metrics import INTEGRITY_FAILURES
from services.vault.writes import subject_cipher
from shared.contacts import ContactRequest
from shared.domain import Channel
from shared.logging import get_logger
from shared.tickets import TicketRefusal, TicketVerifier

log = get_logger(__name__)

RESOLVE_PURPOSES = frozenset({"dispatch"})
# From this many requests on, their tickets are verified off the event loop (below it, the
# hop to a thread costs about as much as the verifications).
THREADED_CHECKS = 8


@dataclass(frozen=True)
class _ResolveCall:
    caller: Caller
    purpose: str
    requests: list[ContactRequest]
    refusals: list[TicketRefusal | None]
    """Per request, why its ticket does not admit the read (None: it does)."""


class ContactResolver:
    def __init__(
        self,
        pool: asyncpg.Pool,
        keyring: Keyring,
        audit_committed: Callable[[], None],
        tickets: TicketVerifier,
    ) -> None:
        self.pool = pool
        self.keyring = keyring
        self.audit_committed = audit_committed
        self.tickets = tickets
        self._reads: GroupCommit[_ResolveCall, list[dict[str, object]]] = GroupCommit(
            self._resolve_calls
        )

    async def resolve(
        self, caller: Caller, purpose: str, requests: list[ContactRequest]
    ) -> list[dict[str, object]]:
        # Checked here, per call, not in the shared transaction's critical path; a batch in
        # a worker thread (verification releases the GIL), so the loop keeps serving.
        if len(requests) >= THREADED_CHECKS:
            refusals = await asyncio.to_thread(self._refusals, requests)
        else:
            refusals = self._refusals(requests)
        return await self._reads.submit(_ResolveCall(caller, purpose, requests, refusals))

    def _refusals(self, requests: list[ContactRequest]) -> list[TicketRefusal | None]:
        return [self.tickets.refusal(r.ticket, r.ticket_subject()) for r in requests]

    async def _resolve_calls(self, calls: list[_ResolveCall]) -> list[list[dict[str, object]]]:
        answers: list[list[dict[str, object]]] = []
        entries: list[AuditEntry] = []
        async with self.pool.acquire() as conn, conn.transaction():
            ids = {
                request.ext_user_id
                for call in calls
                for request, refusal in zip(call.requests, call.refusals, strict=True)
                if refusal is None
            }
            subjects = await repo.load_subjects(conn, sorted(ids))
            ciphers: dict[str, SubjectCipher] = {}
            for call in calls:
                results = []
                for request, refusal in zip(call.requests, call.refusals, strict=True):
                    if refusal is None:
                        result, entry = self._resolve_one(
                            call.caller, call.purpose, request, subjects, ciphers
                        )
                    else:
                        result, entry = _refused(call.caller, call.purpose, request, refusal)
                    results.append(result)
                    entries.append(entry)
                answers.append(results)
            await audit_store.append_audit(conn, entries)
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
        elif request.channel.value in subject.opted_out | subject.suppressed:
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
                    cipher = ciphers.get(subject.ext_user_id) or subject_cipher(
                        self.keyring, subject
                    )
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
                    INTEGRITY_FAILURES.labels("resolve contacts").inc()
        entry = audit_entry(
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


def _refused(
    caller: Caller, purpose: str, request: ContactRequest, refusal: TicketRefusal
) -> tuple[dict[str, object], AuditEntry]:
    """No valid ticket, no read: the subject is not even looked at."""
    entry = audit_entry(
        caller,
        Decision.REFUSED_TICKET,
        purpose=purpose,
        ext_user_id=request.ext_user_id,
        ext_message_id=request.ext_message_id,
        detail=f"{request.channel.value} ticket {refusal.value}",
    )
    result: dict[str, object] = {
        "ext_message_id": str(request.ext_message_id),
        "status": "ticket_refused",
        "reason": refusal.value,
        "audit_id": str(entry.audit_id),
    }
    return result, entry
