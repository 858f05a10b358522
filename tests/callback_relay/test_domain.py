"""The relay's pure rules: which events report which status, the URL, success, back-off."""

from __future__ import annotations

import uuid

import pytest
from yarl import URL

from services.callback_relay.domain import (
    RetryPolicy,
    callback_url,
    judge_response,
    status_from,
)
from shared.domain import Channel, SmarticoStatus
from shared.events import (
    CallbackDelivered,
    DispatchAttempted,
    DispatchFailed,
    DispatchSucceeded,
    Event,
    MessageBodyRedacted,
    RecipientResolutionFailed,
    StatusReported,
)

MID = uuid.uuid4()


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (DispatchSucceeded(channel=Channel.EMAIL, provider="smtp", attempt=1), SmarticoStatus.ACCEPTED),
        (RecipientResolutionFailed(channel=Channel.SMS, reason="opted_out"), SmarticoStatus.FAILED),
        (
            DispatchFailed(
                channel=Channel.SMS, provider="x", attempt=3, retryable=False, reason="r"
            ),
            SmarticoStatus.FAILED,
        ),
        (
            DispatchFailed(
                channel=Channel.SMS, provider="x", attempt=1, retryable=True, reason="r"
            ),
            None,
        ),
        (DispatchAttempted(channel=Channel.SMS, provider="x", attempt=1), None),
        (CallbackDelivered(status=SmarticoStatus.OPENED, attempts=1), None),
        (MessageBodyRedacted(retention_days=30), None),
        *[
            (StatusReported(provider="p", provider_status="x", status=s), s)
            for s in SmarticoStatus
        ],
    ],
)
def test_each_event_type_reports_the_agreed_status(payload, expected) -> None:
    assert status_from(Event.create(MID, payload, "test")) == expected


def test_callback_url_keeps_smarticos_parameters_and_adds_ours() -> None:
    url = callback_url(
        URL("https://api.smartico.ai/cb/path?label=42&token=abc&status=forged"),
        Channel.WHATSAPP,
        str(MID),
        SmarticoStatus.DELIVERED,
        "the-key",
    )
    assert url.host == "api.smartico.ai" and url.path == "/cb/path"
    assert url.query["label"] == "42" and url.query["token"] == "abc"
    assert url.query["type"] == "sms"  # whatsapp reports as sms
    assert url.query["status"] == "delivered"  # a status in the URL cannot override ours
    assert url.query.getall("status") == ["delivered"]
    assert url.query["ext_message_id"] == str(MID)
    assert url.query["api_key"] == "the-key"


@pytest.mark.parametrize(
    ("status", "body", "outcome", "code"),
    [
        (200, b'{"error_code": 0}', "delivered", 0),
        (200, b'{\n  "error_code": 0,\n}', "delivered", 0),  # Smartico's documented example
        (200, b'{"error_code": 1, "error_message": "email was not found"}', "retry", 1),
        (200, b"OK", "retry", None),
        (500, b'{"error_code": 0}', "retry", 0),
        (302, b"", "retry", None),
    ],
)
def test_success_is_http_200_with_error_code_0(status, body, outcome, code) -> None:
    assert judge_response(status, body) == (outcome, code)


def test_back_off_grows_exponentially_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(initial_s=1, maximum_s=60, period_s=3600)
    for attempt, step in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (30, 60)]:
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(step / 2 <= d <= step for d in delays)
        assert len(delays) > 1  # jittered
