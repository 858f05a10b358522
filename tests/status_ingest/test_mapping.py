"""The mapping table, row by row for every provider.  The expected rows are written out
here, not derived from the table, and every row of the table must appear here."""

from __future__ import annotations

import pytest

from services.status_ingest.mapping import MAPPING, UnknownStatus, smartico_status

ROWS: list[tuple[str, str, str | None]] = [
    ("sendgrid", "processed", "accepted"),
    ("sendgrid", "deferred", None),
    ("sendgrid", "delivered", "delivered"),
    ("sendgrid", "dropped", "rejected"),
    ("sendgrid", "bounce:bounce", "failed"),
    ("sendgrid", "bounce:blocked", "rejected"),
    ("sendgrid", "bounce", "failed"),
    ("sendgrid", "open", "opened"),
    ("sendgrid", "click", "clicked"),
    ("sendgrid", "spamreport", "complained"),
    ("sendgrid", "unsubscribe", "unsubscribed"),
    ("sendgrid", "group_unsubscribe", "unsubscribed"),
    ("sendgrid", "group_resubscribe", None),
    ("mailgun", "accepted", "accepted"),
    ("mailgun", "delivered", "delivered"),
    ("mailgun", "failed:permanent", "failed"),
    ("mailgun", "failed:temporary", None),
    ("mailgun", "rejected", "rejected"),
    ("mailgun", "opened", "opened"),
    ("mailgun", "clicked", "clicked"),
    ("mailgun", "unsubscribed", "unsubscribed"),
    ("mailgun", "complained", "complained"),
    ("mailgun", "stored", None),
    ("ses", "send", "accepted"),
    ("ses", "delivery", "delivered"),
    ("ses", "bounce:permanent", "failed"),
    ("ses", "bounce:undetermined", "failed"),
    ("ses", "bounce:transient", None),
    ("ses", "complaint", "complained"),
    ("ses", "reject", "rejected"),
    ("ses", "open", "opened"),
    ("ses", "click", "clicked"),
    ("ses", "renderingfailure", "failed"),
    ("ses", "deliverydelay", None),
    ("ses", "subscription", "unsubscribed"),
    ("twilio", "accepted", None),
    ("twilio", "scheduled", None),
    ("twilio", "queued", None),
    ("twilio", "sending", None),
    ("twilio", "sent", "accepted"),
    ("twilio", "delivered", "delivered"),
    ("twilio", "undelivered", "failed"),
    ("twilio", "failed", "failed"),
    ("twilio", "canceled", "failed"),
    ("twilio", "read", "opened"),
    ("twilio", "partially_delivered", "delivered"),
    ("twilio", "receiving", None),
    ("twilio", "received", None),
    ("vonage", "accepted", "accepted"),
    ("vonage", "buffered", None),
    ("vonage", "delivered", "delivered"),
    ("vonage", "expired", "failed"),
    ("vonage", "failed", "failed"),
    ("vonage", "rejected", "rejected"),
    ("vonage", "unknown", None),
    ("whatsapp", "sent", "accepted"),
    ("whatsapp", "delivered", "delivered"),
    ("whatsapp", "read", "opened"),
    ("whatsapp", "failed", "failed"),
    ("whatsapp", "deleted", None),
    ("whatsapp", "warning", None),
    ("viber", "delivered", "delivered"),
    ("viber", "seen", "opened"),
    ("viber", "failed", "failed"),
    ("viber", "subscribed", None),
    ("viber", "unsubscribed", None),
    ("viber", "conversation_started", None),
    ("viber", "message", None),
    ("generic", "accepted", "accepted"),
    ("generic", "delivered", "delivered"),
    ("generic", "failed", "failed"),
    ("generic", "rejected", "rejected"),
    ("generic", "complained", "complained"),
    ("generic", "opened", "opened"),
    ("generic", "unsubscribed", "unsubscribed"),
    ("generic", "clicked", "clicked"),
    ("generic", "sent", "accepted"),
    ("generic", "undelivered", "failed"),
    ("generic", "bounced", "failed"),
    ("generic", "read", "opened"),
    ("generic", "expired", "failed"),
    ("generic", "queued", None),
    ("tracking", "open", "opened"),
    ("tracking", "click", "clicked"),
    ("tracking", "unsubscribe", "unsubscribed"),
]


@pytest.mark.parametrize(("provider", "provider_status", "expected"), ROWS)
def test_row(provider: str, provider_status: str, expected: str | None) -> None:
    status = smartico_status(provider, provider_status)
    assert (status.value if status else None) == expected


def test_every_table_row_is_tested_here() -> None:
    table = {(p, s) for p, rows in MAPPING.items() for s in rows}
    assert table == {(p, s) for p, s, _ in ROWS}


def test_statuses_are_case_insensitive_and_sub_types_fall_back() -> None:
    assert smartico_status("twilio", "DELIVERED").value == "delivered"  # type: ignore[union-attr]
    assert smartico_status("sendgrid", "bounce:something-new").value == "failed"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("provider", "status"),
    [("twilio", "exploded"), ("ses", "bounce2"), ("generic", ""), ("viber", "client_status")],
)
def test_unknown_statuses_are_refused_not_guessed(provider: str, status: str) -> None:
    with pytest.raises(UnknownStatus):
        smartico_status(provider, status)
