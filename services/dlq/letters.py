"""Dead letters as operators see them: what failed, why (in our words), when, and which
message it concerns, whichever dead-letter topic it lies in.

- ``records`` (``blindpost.dead-letter``): a record a stage could not read, kept as it
  arrived, with the stage, its origin (topic/partition/offset) and the failure reason
  (``shared.kafka.failure_reason``) in headers.
- ``callbacks`` (``blindpost.callbacks.dead-letter``): a status callback the relay gave up
  on, as JSON: ext_message_id, status, attempts and the reason.

Nothing here prints a record's content: it may hold what a player was sent.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord

from shared.domain import SmarticoStatus
from shared.topics import CALLBACKS_DEAD_LETTER, DEAD_LETTER, Topics, TopicSpec

# The dead-letter topics (shared/topics.py), by the short name ids start with.
KINDS: dict[str, TopicSpec] = {"records": DEAD_LETTER, "callbacks": CALLBACKS_DEAD_LETTER}
# Where a redriven record says it came from.
REDRIVEN_FROM = "blindpost.redriven-from"


@dataclass(frozen=True)
class DeadLetter:
    id: str  # kind/partition/offset
    topic: str
    partition: int
    offset: int
    at: datetime
    stage: str
    reason: str
    reason_class: str
    ext_message_id: uuid.UUID | None
    status: SmarticoStatus | None = None
    source: str | None = None  # records: topic/partition/offset it was read from
    key: bytes | None = None
    value: bytes = b""
    attempts: int | None = None  # callbacks

    @property
    def identity(self) -> str:
        """One failure, however many copies of it lie in the topic (a stage that dies
        before committing dead-letters a record again): a record by where it was read, a
        callback by its message, status and attempts."""
        if self.kind == "callbacks" and self.ext_message_id and self.status:
            return f"callback/{self.ext_message_id}/{self.status.value}/{self.attempts}"
        return self.source or self.coordinates

    @property
    def kind(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def coordinates(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def source_topic(self) -> str | None:
        return self.source.rsplit("/", 2)[0] if self.source else None

    def summary(self) -> dict[str, Any]:
        """What ``dlq list`` shows: never the record's content."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "stage": self.stage,
            "reason_class": self.reason_class,
            "reason": self.reason,
            "ext_message_id": str(self.ext_message_id) if self.ext_message_id else None,
            "status": self.status.value if self.status else None,
            "source": self.source,
        }

    def details(self) -> dict[str, Any]:
        """What ``dlq show`` adds: where it lies, and the record's shape (size, event type)."""
        shape: dict[str, Any] = {"bytes": len(self.value)}
        if self.kind == "records":
            try:
                parsed = json.loads(self.value)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                shape.update({k: parsed[k] for k in ("type", "event_id") if k in parsed})
        else:
            shape["attempts"] = self.attempts
        return {**self.summary(), "dead_letter": self.coordinates, "record": shape}


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


def _at(record: ConsumerRecord) -> datetime:
    return datetime.fromtimestamp(record.timestamp / 1000, UTC)


def _record(kind: str, record: ConsumerRecord) -> DeadLetter:
    headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
    reason = headers.get("blindpost.reason", "unknown")
    source = headers.get("blindpost.source")
    # Only the event log and the dispatch topics are keyed by ext_message_id.
    keyed = source and (".message-events/" in source or ".dispatch." in source)
    key = record.key.decode(errors="replace") if record.key and keyed else None
    return DeadLetter(
        id=f"{kind}/{record.partition}/{record.offset}", topic=record.topic,
        partition=record.partition, offset=record.offset, at=_at(record),
        stage=headers.get("blindpost.stage", "unknown"), reason=reason,
        reason_class=reason.split(":", 1)[0], ext_message_id=_uuid(key), source=source,
        key=record.key, value=record.value or b"",
    )


def _callback(kind: str, record: ConsumerRecord) -> DeadLetter:
    body = json.loads(record.value or b"{}")
    reason = str(body.get("reason", "unknown"))
    return DeadLetter(
        id=f"{kind}/{record.partition}/{record.offset}", topic=record.topic,
        partition=record.partition, offset=record.offset, at=_at(record),
        stage="callback-relay", reason=reason,
        # The words of blindpost_callbacks_dead_lettered_total{reason}.
        reason_class="refused" if reason.startswith("refused") else "retries_exhausted",
        ext_message_id=_uuid(body.get("ext_message_id")),
        status=SmarticoStatus(body["status"]) if body.get("status") else None,
        key=record.key, value=record.value or b"", attempts=body.get("attempts"),
    )


READERS: dict[str, Callable[[str, ConsumerRecord], DeadLetter]] = {
    "records": _record,
    "callbacks": _callback,
}


def read_letter(kind: str, record: ConsumerRecord) -> DeadLetter:
    """A record of a dead-letter topic; one not in its topic's shape is still listed."""
    try:
        return READERS[kind](kind, record)
    except (ValueError, TypeError, AttributeError):
        return DeadLetter(
            id=f"{kind}/{record.partition}/{record.offset}", topic=record.topic,
            partition=record.partition, offset=record.offset, at=_at(record),
            stage="unknown", reason="unreadable dead letter", reason_class="unreadable",
            ext_message_id=None, key=record.key, value=record.value or b"",
        )


def topic_of(topics: Topics, kind: str) -> str:
    return topics.name(KINDS[kind])


@dataclass(frozen=True)
class Selection:
    """Which dead letters: by id, by reason (its class, or the start of its words), by
    time range (set aside at or after ``since``, before ``until``), by topic (``kind``);
    all when nothing is named."""

    ids: Sequence[str] = ()
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None  # one dead-letter topic only

    @property
    def kinds(self) -> list[str]:
        named = {i.split("/", 1)[0] for i in self.ids} | ({self.kind} if self.kind else set())
        return [k for k in KINDS if not named or k in named]

    @property
    def names_any(self) -> bool:
        return bool(self.ids or self.reason or self.since or self.until)

    def __contains__(self, letter: DeadLetter) -> bool:
        if self.ids and letter.id not in self.ids:
            return False
        if self.reason and not (
            letter.reason_class == self.reason or letter.reason.startswith(self.reason)
        ):
            return False
        if self.since and letter.at < self.since:
            return False
        return not (self.until and letter.at >= self.until)
