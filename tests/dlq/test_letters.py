"""Dead letters read from either topic (pure): the same words for what failed and why, one
identity per failure however many copies, and a selection by id, reason and time."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRecord

from services.dlq.letters import Selection, read_letter
from shared.domain import SmarticoStatus

AT = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
MID = uuid.uuid4()


def _record(
    topic: str, offset: int, value: bytes, headers: list[tuple[str, bytes]] | None = None,
    key: bytes | None = None, at: datetime = AT,
) -> ConsumerRecord:
    return ConsumerRecord(topic, 0, offset, int(at.timestamp() * 1000), 0, key, value, None,
                          len(key or b""), len(value), headers or [])


def _poison(offset: int, source_offset: int) -> ConsumerRecord:
    return _record(
        "p.blindpost.dead-letter", offset, b'{"subject": "private"', key=str(MID).encode(),
        headers=[("blindpost.stage", b"projector"),
                 ("blindpost.source", f"p.blindpost.message-events/1/{source_offset}".encode()),
                 ("blindpost.reason", b"ValidationError: malformed record")],
    )


def _callback(offset: int, attempts: int, reason: str, at: datetime = AT) -> ConsumerRecord:
    body = {"ext_message_id": str(MID), "status": "delivered", "type": "sms",
            "callback_url": "https://smartico.example/cb", "attempts": attempts,
            "reason": reason}
    return _record("p.blindpost.callbacks.dead-letter", offset, json.dumps(body).encode(),
                   key=str(MID).encode(), at=at)


def test_a_record_dead_lettered_twice_is_one_failure_told_in_our_words() -> None:
    first, second = read_letter("records", _poison(3, 40)), read_letter("records", _poison(4, 40))
    assert first.identity == second.identity == "p.blindpost.message-events/1/40"
    assert (first.id, first.stage, first.reason_class, first.ext_message_id) == (
        "records/0/3", "projector", "ValidationError", MID,
    )
    assert first.source_topic == "p.blindpost.message-events"
    assert "private" not in json.dumps(first.details())
    assert read_letter("records", _poison(5, 41)).identity != first.identity


def test_a_callback_is_one_failure_per_episode_and_classed_as_the_metric_is() -> None:
    exhausted = read_letter("callbacks", _callback(0, 5, "retry period over after 5 attempts"))
    refused = read_letter("callbacks", _callback(1, 6, "refused: host is not on the allow-list"))
    assert (exhausted.reason_class, exhausted.status, exhausted.stage) == (
        "retries_exhausted", SmarticoStatus.DELIVERED, "callback-relay",
    )
    assert refused.reason_class == "refused"
    assert exhausted.identity != refused.identity  # re-driven, then dead again: a new failure
    again = read_letter("callbacks", _callback(2, 5, "retry period over after 5 attempts"))
    assert again.identity == exhausted.identity


def test_a_dead_letter_not_in_its_topics_shape_is_still_listed() -> None:
    odd = read_letter("callbacks", _record("p.blindpost.callbacks.dead-letter", 7, b"[1, 2"))
    assert (odd.id, odd.reason_class, odd.ext_message_id) == ("callbacks/0/7", "unreadable", None)


def test_a_selection_by_id_reason_and_time() -> None:
    early = read_letter("callbacks", _callback(0, 5, "retry period over after 5 attempts"))
    late = read_letter(
        "callbacks", _callback(1, 6, "refused: no", at=AT + timedelta(hours=2))
    )
    assert [early in s for s in (
        Selection(), Selection(ids=["callbacks/0/0"]), Selection(reason="retries_exhausted"),
        Selection(reason="retry period"), Selection(until=AT + timedelta(hours=1)),
    )] == [True] * 5
    assert [late in s for s in (
        Selection(ids=["callbacks/0/0"]), Selection(reason="retries_exhausted"),
        Selection(until=AT + timedelta(hours=1)),
    )] == [False] * 3
    assert late in Selection(reason="refused", since=AT + timedelta(hours=1))
    assert Selection(ids=["records/0/1"]).kinds == ["records"]
    assert Selection(kind="callbacks").kinds == ["callbacks"] and not Selection().names_any
