"""The audit log's tamper evidence, with no I/O: each row's hash covers its content and the
previous row's hash (as in RFC 6962's append-only logs), so an edited, deleted or reordered
row breaks the chain at the first row touched, and the head (last hash and row count, kept
apart) catches a truncated tail."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

GENESIS = b"\x00" * 32


class Decision(StrEnum):
    READ = "read"
    READ_MASKED = "read_masked"
    WRITTEN = "written"
    ERASED = "erased"
    EXPIRED = "expired"  # a content key past the content retention, destroyed
    IMPORTED = "imported"
    LOOKED_UP = "looked_up"
    KEYS_ROTATED = "keys_rotated"
    AUDIT_READ = "audit_read"
    PRUNED = "pruned"
    NOT_FOUND = "not_found"
    NO_ADDRESS = "no_address"
    OPTED_OUT = "opted_out"
    ERASED_SUBJECT = "erased_subject"
    INTEGRITY_FAILURE = "integrity_failure"
    REFUSED_UNAUTHENTICATED = "refused_unauthenticated"
    REFUSED_SCOPE = "refused_scope"
    REFUSED_NO_PURPOSE = "refused_no_purpose"
    REFUSED_INVALID = "refused_invalid"
    REFUSED_THROTTLED = "refused_throttled"
    REFUSED_ERASED = "refused_erased"
    REFUSED_TICKET = "refused_ticket"
    ERASURE_OVERRIDDEN = "erasure_overridden"


@dataclass(frozen=True)
class AuditEntry:
    """One access.  Values are never recorded: ``fields`` names what was touched."""

    caller: str
    scope: str
    decision: Decision
    request_id: str
    at: datetime
    purpose: str | None = None
    ext_user_id: str | None = None
    fields: tuple[str, ...] = ()
    ext_message_id: uuid.UUID | None = None
    detail: str | None = None
    peer: str | None = None
    audit_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def facts(self) -> dict[str, object]:
        """The JSON published for the SIEM and the audit join (no values)."""
        facts: dict[str, object] = {
            "audit_id": str(self.audit_id),
            "ext_message_id": str(self.ext_message_id) if self.ext_message_id else None,
            "ext_user_id": self.ext_user_id,
            "caller": self.caller,
            "scope": self.scope,
            "purpose": self.purpose,
            "fields": list(self.fields),
            "decision": self.decision.value,
            "request_id": self.request_id,
            "detail": self.detail,
            "at": self.at.isoformat(),
        }
        # Only when known, so that rows written before it existed keep their hashes.
        if self.peer is not None:
            facts["peer"] = self.peer
        return facts


# json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True), built once: dumps
# with options builds an encoder per call, and every audited access hashes a row.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_text(seq: int, entry: AuditEntry) -> str:
    """The JSON a row's hash covers; ``seq`` is included so moving a row is visible."""
    return _CANONICAL_JSON.encode({"seq": seq, **entry.facts()})


def canonical(seq: int, entry: AuditEntry) -> bytes:
    return canonical_text(seq, entry).encode()


def hashed(previous: bytes, seq: int, entry: AuditEntry) -> tuple[bytes, str]:
    """The row's hash, and the canonical JSON it covers."""
    text = canonical_text(seq, entry)
    return hashlib.sha256(previous + text.encode()).digest(), text


def chain_hash(previous: bytes, seq: int, entry: AuditEntry) -> bytes:
    return hashed(previous, seq, entry)[0]


@dataclass(frozen=True)
class StoredRow:
    seq: int
    entry: AuditEntry
    prev_hash: bytes
    row_hash: bytes


def published(canonical_json: str, row_hash: bytes) -> bytes:
    """A row's fact as published: its canonical JSON (the entry's facts and ``seq``) with
    the row's hash added, so that `audit verify` can hold the table against what was
    published."""
    return f'{canonical_json[:-1]},"row_hash":"{row_hash.hex()}"}}'.encode()


def fact_digest(published: dict[str, object]) -> bytes:
    """The digest of a published fact's content: for a fact as published, equal to that of
    the row's :func:`canonical` bytes."""
    body = {key: value for key, value in published.items() if key != "row_hash"}
    return hashlib.sha256(_CANONICAL_JSON.encode(body).encode()).digest()


@dataclass(frozen=True)
class Break:
    """One place where the chain does not hold: a row (``seq``) or the head (``seq`` None)."""

    seq: int | None
    audit_id: uuid.UUID | None
    reason: str

    def describe(self) -> str:
        where = f"row seq={self.seq}" if self.seq is not None else "chain head"
        ident = f" (audit_id {self.audit_id})" if self.audit_id else ""
        return f"{where}{ident}: {self.reason}"


@dataclass(frozen=True)
class Verdict:
    rows: int
    breaks: tuple[Break, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_bad_seq(self) -> int | None:
        return self.breaks[0].seq if self.breaks else None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.rows} rows verified"
        lines = [f"audit chain BROKEN at {self.breaks[0].describe()}"]
        lines += [f"also BROKEN at {b.describe()}" for b in self.breaks[1:]]
        lines.append(f"{len(self.breaks)} breaks in {self.rows} rows")
        return "\n".join(lines)


class ChainVerifier:
    """Walks rows in ``seq`` order and reports every row that does not follow from its
    predecessor.  After a break it carries on from the bad row's stored hash, so one edit
    (or one unreadable row) cannot hide tampering further on.  Fed row by row, so a log of
    any size verifies in flat memory (only the breaks are kept)."""

    def __init__(self, start_seq: int = 0, start_hash: bytes = GENESIS) -> None:
        # A pruned log starts after a checkpointed row, not at genesis.
        self.start_seq = start_seq
        self.previous = start_hash
        self.count = 0
        self.expected_seq = start_seq + 1
        self.breaks: list[Break] = []

    def feed(self, row: StoredRow) -> None:
        self.count += 1
        # Sequence numbers are given out under the head lock, without gaps: a gap is a
        # deleted row, and naming it is more useful than naming the row after it.
        if row.seq != self.expected_seq:
            self.breaks.append(
                Break(
                    self.expected_seq,
                    None,
                    f"row is missing (deleted); the chain continues at seq={row.seq}",
                )
            )
        elif row.prev_hash != self.previous:
            self.breaks.append(
                Break(
                    row.seq,
                    row.entry.audit_id,
                    "does not follow the row before it (a row was deleted or reordered here)",
                )
            )
        elif chain_hash(self.previous, row.seq, row.entry) != row.row_hash:
            self.breaks.append(
                Break(row.seq, row.entry.audit_id, "content does not match its hash (edited)")
            )
        self.expected_seq = row.seq + 1
        self.previous = row.row_hash

    def finish(self, head_seq: int, head_hash: bytes) -> Verdict:
        last_seq = self.expected_seq - 1
        if last_seq != head_seq or self.previous != head_hash:
            self.breaks.append(
                Break(
                    None,
                    None,
                    f"the log ends after {self.count} rows but its head records "
                    f"{head_seq - self.start_seq} (rows at the end were deleted)",
                )
            )
        return Verdict(self.count, tuple(self.breaks))


def verify(rows: Iterable[StoredRow], head_seq: int, head_hash: bytes) -> Verdict:
    verifier = ChainVerifier()
    for row in rows:
        verifier.feed(row)
    return verifier.finish(head_seq, head_hash)
