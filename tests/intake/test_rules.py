"""The pure rules, without I/O: secrets, the directory verdict, request validation."""

from __future__ import annotations

import pytest

from services.intake.auth import SecretChecker
from services.intake.requests import EmailRequest, InvalidRequest, parse_request
from services.intake.subjects import Subject, refusal, refusal_reason
from shared.domain import Channel, ErrorCode


def test_every_configured_secret_is_accepted_and_nothing_else():
    checker = SecretChecker([b"old-secret", b"new-secret"])
    assert checker.allows("old-secret") and checker.allows("new-secret")
    for wrong in (None, "", "old-secre", "old-secretX", "Bearer old-secret", "OLD-SECRET"):
        assert not checker.allows(wrong)
    assert not checker.allows("ünïcode")
    with pytest.raises(ValueError):
        SecretChecker([])


@pytest.mark.parametrize(
    ("subject", "channel", "expected"),
    [
        (None, Channel.EMAIL, ErrorCode.USER_NOT_FOUND),
        (None, Channel.CIM, ErrorCode.USER_NOT_FOUND),
        (Subject(frozenset({"sms"}), frozenset()), Channel.EMAIL, ErrorCode.NO_ADDRESS),
        (Subject(frozenset({"sms"}), frozenset()), Channel.SMS, None),
        (Subject(frozenset({"sms"}), frozenset({"sms"})), Channel.SMS, ErrorCode.OPTED_OUT),
        (Subject(frozenset(), frozenset({"email"})), Channel.EMAIL, ErrorCode.OPTED_OUT),
        (Subject(frozenset(), frozenset()), Channel.CIM, None),
        (Subject(frozenset(), frozenset({"cim"})), Channel.CIM, ErrorCode.OPTED_OUT),
    ],
)
def test_directory_verdict(subject, channel, expected):
    assert refusal(subject, channel) == expected


def test_a_suppressed_channel_is_answered_as_an_opt_out_and_recorded_as_a_suppression():
    bounced = Subject(frozenset({"email", "sms"}), frozenset({"email"}), frozenset({"email"}))
    assert refusal(bounced, Channel.EMAIL) == ErrorCode.OPTED_OUT
    assert refusal_reason(bounced, Channel.EMAIL) == "suppressed"
    opted_out = Subject(frozenset({"email", "sms"}), frozenset({"sms"}), frozenset({"email"}))
    assert refusal(opted_out, Channel.SMS) == ErrorCode.OPTED_OUT
    assert refusal_reason(opted_out, Channel.SMS) is None  # the code's own: opted_out


def test_the_contract_examples_parse():
    email = parse_request(
        Channel.EMAIL,
        {
            "ext_user_id": "hhu234556",
            "from_email_address": "Amazing <noreply@amazing.co>",
            "reply_to_email_address": "Amazing <noreply@amazing.co>",
            "subject": "The best offer your can find on the market",
            "body": "<html>..........</html>",
            "text_body": "Get the offer.....",
            "email_uid": "ksjhdf3428yqwr8fhjhfkdj",
            "callback_url": "https://api.smartico.ai/......callback",
            "activity_type": "preview",
            "to_email_address": "test@amazing.co",
        },
    )
    assert isinstance(email, EmailRequest)
    assert email.uid == "ksjhdf3428yqwr8fhjhfkdj" and email.is_preview
    assert "test@amazing.co" not in repr(email)
    cim = parse_request(
        Channel.CIM,
        {
            "ext_user_id": "hhu234556",
            "from_number": None,
            "body": "Best offer ever",
            "im_uid": "ksjhdf3428yqwr8fhjhfkdj",
            "callback_url": "https://api.smartico.ai/......callback",
            "extension": {"title": "Microsoft is raising", "instrument": "MSFT"},
        },
    )
    assert cim.content().extension == {"title": "Microsoft is raising", "instrument": "MSFT"}


def test_invalid_fields_are_all_named_and_values_never_echoed():
    with pytest.raises(InvalidRequest) as caught:
        parse_request(
            Channel.SMS,
            {"ext_user_id": ["x"], "body": 7, "callback_url": "ftp://secret.example/x"},
        )
    message = str(caught.value)
    for field in ("ext_user_id", "body", "callback_url", "im_uid"):
        assert field in message
    assert "secret.example" not in message


def test_log_throttle_writes_one_line_per_interval_and_counts_the_rest():
    from services.intake.throttle import LogThrottle

    lines: list[tuple[str, dict]] = []

    class Recorder:
        def warning(self, event: str, **fields: object) -> None:
            lines.append((event, fields))

    throttle = LogThrottle(Recorder(), interval_s=3600)
    for _ in range(5):
        throttle.warning("authorization refused", reason="wrong")
    assert lines == [("authorization refused", {"skipped_since_last": 0, "reason": "wrong"})]
