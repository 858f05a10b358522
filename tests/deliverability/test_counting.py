"""What counts as what, once per message, and the complaint level's thresholds (pure)."""

from __future__ import annotations

import uuid

from services.deliverability.counting import Counted, Thresholds, observe
from shared.domain import Channel, SmarticoStatus
from tests.support import events as build

MID = uuid.uuid4()


def test_an_email_counts_once_sent_then_each_kind_once() -> None:
    state, counted = observe(None, build.dispatched(MID, sending_domain="mail.example"))
    assert counted == Counted("mail.example", "smtp", "sent")
    again, nothing = observe(state, build.dispatched(MID, sending_domain="mail.example"))
    assert (again, nothing) == (None, None)  # a re-emitted dispatch.succeeded: the same send
    dsn = build.status_reported(MID, SmarticoStatus.FAILED, provider="bounce")
    state, counted = observe(state, dsn)
    assert counted == Counted("mail.example", "smtp", "bounce")  # the sender's provider
    assert observe(state, dsn) == (None, None)  # the same DSN delivered twice
    rejected = build.status_reported(MID, SmarticoStatus.REJECTED, provider="sendgrid")
    assert observe(state, rejected) == (None, None)  # already a bounce
    _state, counted = observe(state, build.status_reported(MID, SmarticoStatus.COMPLAINED))
    assert counted is not None and counted.kind == "complaint"


def test_what_has_no_sending_domain_is_not_counted() -> None:
    sms = build.dispatched(MID, channel=Channel.SMS, provider="twilio")
    assert observe(None, sms) == (None, None)
    # A report on a message this service never saw sent (before the field existed).
    assert observe(None, build.status_reported(MID, SmarticoStatus.DELIVERED)) == (None, None)
    state, _ = observe(None, build.dispatched(MID, sending_domain="mail.example"))
    clicked = build.status_reported(MID, SmarticoStatus.CLICKED)
    assert observe(state, clicked) == (None, None)


def test_the_level_needs_volume_and_follows_the_thresholds() -> None:
    levels = Thresholds(critical=0.003, warning=0.001, min_sent=100)
    assert levels.level(complaints=5, sent=99) == "ok"  # too few to judge
    assert levels.level(complaints=0, sent=1000) == "ok"
    assert levels.level(complaints=1, sent=1000) == "warning"
    assert levels.level(complaints=3, sent=1000) == "critical"
