"""Non-PII facts about a subject that the vault publishes on a compacted topic (key
``ext_user_id``), so that intake can answer errors 1, 4 and 5 at once without holding PII.
A tombstone (null value) means the subject was erased.

Read tolerantly, as every event (docs/event-log.md): a field a newer vault adds (as
``suppressed`` was) is ignored by an older intake during a rolling upgrade, never dead-lettered;
a new field gets a default, so facts of an older vault still read."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared.domain import Channel


class SubjectFacts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    ext_user_id: str
    channels: frozenset[Channel]
    """Channels for which the vault holds an address (e-mail; phone gives sms, and viber /
    whatsapp unless a per-channel id says otherwise; cim needs no address)."""
    opted_out: frozenset[Channel] = frozenset()
    suppressed: frozenset[Channel] = frozenset()
    """Channels on the suppression list (a hard bounce, a complaint, a provider's unsubscribe,
    an SMS STOP): intake answers 5 for them as for an opt-out."""
    updated_at: datetime
    version: int = 1
    """Monotonic per subject; a consumer keeps the highest it has seen."""
    audit_seq: int | None = None
    audit_hash: str | None = None
    """The vault's audit row that recorded this change (its seq and hex row hash): a copy of
    the chain outside the vault's database, which `blindpost audit verify` holds it against."""

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> SubjectFacts:
        return cls.model_validate_json(raw)
