"""An erased subject stays a tombstone: a later write for its ext_user_id (a PUT, an import
line) is refused, so that the next CRM sync cannot silently undo an erasure.  Only an
explicit override with a reason writes it again, and that reason is in the audit log.

No I/O here: the API and the importer load the subject under lock and ask these rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.vault.access import Caller, audit_entry
from services.vault.audit import AuditEntry, Decision
from services.vault.domain import InvalidContact
from services.vault.repository import StoredSubject

MAX_REASON = 500
REFUSAL = (
    "this subject was erased on request; writing it again needs an explicit override with a "
    "reason (recorded in the audit log)"
)

IMPORT_REFUSAL = "erased subject (a tombstone); --override-erasure REASON writes it again"


class ErasedSubject(Exception):
    """A write for an erased subject without an override: refused (and audited)."""


@dataclass(frozen=True)
class ErasureOverride:
    """An operator's decision that an erased subject may hold data again, and why."""

    reason: str

    @classmethod
    def parse(cls, given: object, field_name: str = "override_erasure") -> ErasureOverride:
        """From a PUT body's ``{"reason": "..."}`` or the import's ``--override-erasure``."""
        reason = given.get("reason") if isinstance(given, dict) else given
        if not isinstance(reason, str) or not " ".join(reason.split()):
            raise InvalidContact(field_name, "needs a non-empty reason")
        if isinstance(given, dict) and set(given) != {"reason"}:
            raise InvalidContact(field_name, "an object with only a reason")
        return cls(" ".join(reason.split())[:MAX_REASON])

    @property
    def detail(self) -> str:
        return f"erasure overridden: {self.reason}"


def write_decision(current: StoredSubject | None, override: ErasureOverride | None) -> Decision:
    """How a write of ``current`` is recorded; raises :class:`ErasedSubject` when refused."""
    if current is None or not current.erased:
        return Decision.WRITTEN
    if override is None:
        raise ErasedSubject(current.ext_user_id)
    return Decision.ERASURE_OVERRIDDEN


@dataclass
class ImportErasures:
    """The import's tombstone decisions, line by line, audited per subject with the import."""

    caller: Caller
    override: ErasureOverride | None
    refused: list[tuple[int, str]] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)

    def admit(self, line: int, current: StoredSubject | None) -> bool:
        try:
            decision = write_decision(current, self.override)
        except ErasedSubject:
            assert current is not None
            self.refused.append((line, current.ext_user_id))
            return False
        if decision is Decision.ERASURE_OVERRIDDEN:
            assert current is not None
            self.overridden.append(current.ext_user_id)
        return True

    def audit_entries(self) -> list[AuditEntry]:
        common = {"purpose": "bulk-import"}
        refused = [
            audit_entry(
                self.caller,
                Decision.REFUSED_ERASED,
                ext_user_id=user,
                detail=f"import line {line}",
                **common,
            )
            for line, user in self.refused
        ]
        overridden = [
            audit_entry(
                self.caller,
                Decision.ERASURE_OVERRIDDEN,
                ext_user_id=user,
                detail=self.override.detail if self.override else None,
                **common,
            )
            for user in self.overridden
        ]
        return refused + overridden


def destroyed_key_detail(key_version: int, keks: list[str]) -> str:
    """The erasure's audit detail: which data key was destroyed, the KEK that wrapped it and
    those that wrapped it before (read back by the erasure report)."""
    *earlier, last = keks or ["unknown"]
    before = f"; before that by {', '.join(earlier)}" if earlier else ""
    return f"data key v{key_version} destroyed (wrapped by KEK {last}{before})"


DETAIL_PARTS = " and "


def erasure_detail(data_key: str | None, content_keks: str | None) -> str | None:
    """The whole erasure detail: the data key's part and the content keys' (either may be
    absent); both name KEKs a backup may still hold copies under."""
    content = f"content keys destroyed (wrapped by KEK {content_keks})" if content_keks else None
    return DETAIL_PARTS.join(part for part in (data_key, content) if part) or None


def wrapping_keks(detail: str) -> list[str]:
    """Every KEK an erasure's audit detail names, data key's and content keys', once each."""
    keks: list[str] = []
    for part in detail.split(DETAIL_PARTS):
        content = re.fullmatch(r"content keys? destroyed \(wrapped by KEK (.+)\)", part)
        keks += content.group(1).split(", ") if content else destroyed_keks(part)
    return list(dict.fromkeys(keks))


def destroyed_keks(detail: str | None) -> list[str]:
    """Every KEK named by :func:`destroyed_key_detail`, the last one last (none for erasures
    recorded before it)."""
    match = re.fullmatch(
        r"data key v\d+ destroyed \(wrapped by KEK ([^;]+?)(?:; before that by (.+))?\)",
        detail or "",
    )
    if not match or match.group(1) == "unknown":
        return []
    earlier = match.group(2).split(", ") if match.group(2) else []
    return [*earlier, match.group(1)]


def erasure_override_of(body: object) -> tuple[object, ErasureOverride | None]:
    """A PUT body without its ``override_erasure`` member, and the override it gave."""
    if not isinstance(body, dict) or "override_erasure" not in body:
        return body, None
    rest = {key: value for key, value in body.items() if key != "override_erasure"}
    return rest, ErasureOverride.parse(body["override_erasure"])
