"""The delivery state machine, row by row: no Kafka, no PostgreSQL, no clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.dispatch.delivery_steps import (
    Budget,
    Done,
    Fail,
    OutcomeUnknown,
    Park,
    Resend,
    RetryInline,
    RetryPolicy,
    circuit_open,
    next_step,
)
from services.dispatch.outcomes import PermanentFailure, Sent, TransientFailure

POLICY = RetryPolicy(
    max_attempts=6,
    max_age_s=60.0,
    inline_retries=1,
    inline_backoff_s=0.2,
    park_initial_s=30.0,
    park_max_s=100.0,
    unknown_outcome="auto",
)
FRESH = Budget.fresh(POLICY)
SPENT = replace(FRESH, inline_left=0)
BUSY = TransientFailure("http_503")


@pytest.mark.parametrize(
    ("outcome", "attempt", "budget", "jitter", "expected"),
    [
        pytest.param(Sent("p-1"), 1, FRESH, 0.5, Done(), id="sent"),
        pytest.param(Sent(None), 6, SPENT, 0.5, Done(), id="sent-on-the-last-attempt"),
        pytest.param(PermanentFailure("http_400"), 1, FRESH, 0.5, Fail("http_400"), id="permanent"),
        pytest.param(
            PermanentFailure("smtp_550"), 6, SPENT, 0.5, Fail("smtp_550"), id="permanent-at-max"
        ),
        pytest.param(
            BUSY, 6, FRESH, 0.5, Fail("retries_exhausted:http_503"), id="transient-exhausted"
        ),
        pytest.param(BUSY, 1, FRESH, 0.5, RetryInline(0.2, SPENT), id="transient-inline"),
        pytest.param(BUSY, 1, FRESH, 0.0, RetryInline(0.1, SPENT), id="inline-jitter-low"),
        pytest.param(BUSY, 1, FRESH, 1.0, RetryInline(0.3, SPENT), id="inline-jitter-high"),
        pytest.param(BUSY, 2, SPENT, 0.5, Park(60.0, "http_503", 2), id="park-doubles"),
        pytest.param(BUSY, 1, SPENT, 0.0, Park(24.0, "http_503", 1), id="park-jitter-low"),
        pytest.param(BUSY, 1, SPENT, 1.0, Park(36.0, "http_503", 1), id="park-jitter-high"),
        pytest.param(BUSY, 5, SPENT, 0.5, Park(100.0, "http_503", 5), id="park-capped"),
    ],
)
def test_after_an_attempt(outcome, attempt, budget, jitter, expected):
    step = next_step(outcome, attempt, budget, jitter)
    assert type(step) is type(expected)
    if isinstance(expected, RetryInline | Park):
        assert isinstance(step, RetryInline | Park)  # as above, so the checker narrows
        assert step.delay_s == pytest.approx(expected.delay_s)
        assert replace(step, delay_s=expected.delay_s) == expected
    else:
        assert step == expected


def test_inline_budget_is_spent_then_it_parks():
    first = next_step(BUSY, 1, FRESH)
    assert isinstance(first, RetryInline)
    assert isinstance(next_step(BUSY, 2, first.budget), Park)


@pytest.mark.parametrize(
    ("redelivery", "policy", "expected"),
    [
        ("idempotency_key", "auto", Resend()),
        ("idempotency_key", "fail", Resend()),
        ("idempotency_key", "resend", Resend()),
        ("message_id", "auto", Resend()),
        ("message_id", "fail", Fail("outcome_unknown")),
        ("message_id", "resend", Resend()),
        ("none", "auto", Fail("outcome_unknown")),
        ("none", "fail", Fail("outcome_unknown")),
        ("none", "resend", Resend()),
    ],
)
def test_after_an_unknown_outcome(redelivery, policy, expected):
    budget = Budget.fresh(replace(POLICY, unknown_outcome=policy))
    assert next_step(OutcomeUnknown(redelivery), 1, budget) == expected


@pytest.mark.parametrize(
    ("attempt", "retry_in_s", "expected"),
    [
        (1, 10.0, Park(10.5, "circuit_open", 0)),  # no attempt made yet
        (3, 0.0, Park(0.5, "circuit_open", 2)),
    ],
)
def test_an_open_breaker_parks_before_the_attempt(attempt, retry_in_s, expected):
    assert circuit_open(attempt, retry_in_s) == expected


@pytest.mark.parametrize(("age_s", "expired"), [(0.0, False), (60.0, False), (60.1, True)])
def test_expiry(age_s, expired):
    assert POLICY.expired(age_s) is expired
