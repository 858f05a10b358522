"""The DSN and ARF reader, row by row (no I/O): what each kind of report becomes, and that
nothing else is read from it."""

from __future__ import annotations

import uuid

import pytest

from services.bounce.outcomes import PROVIDER_STATUSES, STATUSES, events_for
from services.bounce.reports import Report, read_report
from shared.domain import SmarticoStatus
from shared.events import StatusNotApplied, StatusReported
from tests.bounce.samples import arf, dsn
from tests.support.events import payload_of

TO, RCPT = "b-verp@bounces.example", "lost.soul@players.example"


@pytest.mark.parametrize(
    ("action", "status", "expected"),
    [
        ("failed", "5.1.1", Report("permanent", "5.1.1")),
        ("failed", "5.7.26", Report("permanent", "5.7.26")),
        # Final even with a 4xx code: the MTA gave up.
        ("failed", "4.4.7", Report("permanent", "4.4.7")),
        ("delayed", "4.4.7", Report("transient", "4.4.7")),
        ("delivered", "2.0.0", Report("delivered", "2.0.0")),
        ("Failed", "5.1.1 (user unknown)", Report("permanent", "5.1.1")),
        ("failed", "garbage", Report("permanent", None)),
        ("relayed", "2.0.0", None),
        ("expanded", "2.0.0", None),
    ],
)
def test_delivery_status_notifications(action: str, status: str, expected: Report | None) -> None:
    assert read_report(dsn(TO, RCPT, action=action, status=status)) == expected


@pytest.mark.parametrize(
    ("feedback_type", "expected"),
    [
        ("abuse", Report("complaint", "abuse")),
        ("fraud", Report("complaint", "fraud")),
        ("virus", Report("complaint", "virus")),
        ("other", Report("complaint", "other")),
        ("not-spam", None),
        ("auth-failure", None),
    ],
)
def test_feedback_reports(feedback_type: str, expected: Report | None) -> None:
    assert read_report(arf(TO, RCPT, feedback_type=feedback_type)) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"Subject: Out of office\r\n\r\nI am away until Monday.\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\nno parts",
        b"Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\n\r\n--x--\r\n",
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="\r\n\r\n',
    ],
)
def test_anything_else_is_no_report(raw: bytes) -> None:
    assert read_report(raw) is None


def test_the_status_class_keeps_class_and_subject_only() -> None:
    assert Report("permanent", "5.1.1").code_class == "5.1"
    assert Report("complaint", "abuse").code_class == "abuse"
    assert Report("permanent", None).code_class is None


def test_each_kind_becomes_its_status_and_the_transient_one_no_status() -> None:
    mid = uuid.uuid4()
    assert set(STATUSES) == set(PROVIDER_STATUSES)
    for kind, status in STATUSES.items():
        (event,) = events_for(mid, Report(kind, "5.1.1"))
        if status is None:
            # Recorded on the message's stream, never reported.
            delay = payload_of(event, StatusNotApplied)
            assert (delay.outcome, delay.provider_status, delay.detail) == (
                "transient",
                "dsn_delayed",
                "5.1",
            )
            assert event.ext_message_id == mid
            continue
        payload = payload_of(event, StatusReported)
        assert (payload.status, payload.provider_status) == (status, PROVIDER_STATUSES[kind])
        assert payload.detail == "5.1" or kind == "complaint"
    # The same report twice is one event (the relay and the event store keep it once).
    again = events_for(mid, Report("permanent", "5.1.1"))[0]
    assert again.event_id == events_for(mid, Report("permanent", "5.1.2"))[0].event_id
    assert STATUSES["permanent"] is SmarticoStatus.FAILED


def test_nothing_of_the_report_travels_in_the_event() -> None:
    report = read_report(dsn(TO, RCPT))
    assert report is not None
    (event,) = events_for(uuid.uuid4(), report)
    assert b"lost.soul" not in event.to_bytes() and b"players.example" not in event.to_bytes()
