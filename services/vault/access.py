"""Who is asking the vault, and the audit entry every access leaves: the API's callers and the
operator's commands alike are a :class:`Caller` with a scope, recorded the same way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from services.vault.audit import AuditEntry, Decision


class Scope(StrEnum):
    ADMIN = "admin"
    RESOLVER = "resolver"
    AUDITOR = "auditor"
    UNSUBSCRIBE = "unsubscribe"
    CONTENT = "content"  # players' content keys: intake and the dispatchers
    NONE = "none"


@dataclass(frozen=True)
class Caller:
    name: str
    """The principal its token belongs to (or the operator's command): never client-given."""
    scope: Scope
    request_id: str
    peer: str | None = None
    """The network address the request came from."""


class NotFound(Exception):
    pass


class Throttled(Exception):
    """Over the rate allowed for this operation: refused, audited, safe to retry later."""


def now() -> datetime:
    return datetime.now(UTC)


def audit_entry(caller: Caller, decision: Decision, **recorded: object) -> AuditEntry:
    """The entry for one access by ``caller`` (``recorded``: purpose, fields, ids, detail)."""
    return AuditEntry(
        caller=caller.name,
        scope=caller.scope.value,
        decision=decision,
        request_id=caller.request_id,
        peer=caller.peer,
        at=now(),
        **recorded,  # type: ignore[arg-type]
    )
