"""What a dispatcher does after each attempt, as data: the delivery state machine.

Pure: no I/O, no clock, no randomness of its own (the caller passes a jitter sample in
[0, 1)), so every branch is a row of a table test (tests/dispatch/test_delivery_steps.py).
The callers (``delivery.py``, ``sweeper.py``) carry the steps out.

    the provider took it                  -> Done
    a permanent failure                   -> Fail(reason)
    a transient failure, attempts used up -> Fail("retries_exhausted:<reason>")
    a transient failure, inline budget    -> RetryInline(back-off)
    a transient failure, no inline budget -> Park(due later, doubling)
    the outcome is unknown (a dispatcher died in the call)
                                          -> Resend, or Fail("outcome_unknown")
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from services.dispatch.outcomes import ProviderFailure, Sent
from services.dispatch.providers import Redelivery

UnknownOutcomePolicy = Literal["auto", "fail", "resend"]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    max_age_s: float
    inline_retries: int
    inline_backoff_s: float
    park_initial_s: float
    park_max_s: float
    unknown_outcome: UnknownOutcomePolicy

    def expired(self, age_s: float) -> bool:
        return age_s > self.max_age_s


@dataclass(frozen=True)
class Budget:
    """What one claim of a message may still spend: retries in-process before parking."""

    policy: RetryPolicy
    inline_left: int

    @classmethod
    def fresh(cls, policy: RetryPolicy) -> Budget:
        return cls(policy, policy.inline_retries)


@dataclass(frozen=True)
class OutcomeUnknown:
    """An attempt that may or may not have reached the provider (its dispatcher died)."""

    redelivery: Redelivery


Outcome = Sent | ProviderFailure | OutcomeUnknown


@dataclass(frozen=True)
class Done:
    """The provider took the message."""


@dataclass(frozen=True)
class Fail:
    """Final: no further attempt."""

    reason: str


@dataclass(frozen=True)
class RetryInline:
    """Attempt again in this process after ``delay_s``, with what is left of the budget."""

    delay_s: float
    budget: Budget


@dataclass(frozen=True)
class Park:
    """Leave it on the ledger, due in ``delay_s``; the sweeper continues with
    ``last_attempt + 1`` (0: no attempt made yet)."""

    delay_s: float
    reason: str
    last_attempt: int


@dataclass(frozen=True)
class Resend:
    """Attempt again now: the provider recognises a resend, or duplicates are accepted."""


Step = Done | Fail | RetryInline | Park | Resend


def next_step(outcome: Outcome, attempt: int, budget: Budget, jitter: float = 0.5) -> Step:
    """What follows ``attempt`` (1-based) that came to ``outcome``."""
    policy = budget.policy
    if isinstance(outcome, Sent):
        return Done()
    if isinstance(outcome, OutcomeUnknown):
        if resends_unknown(outcome.redelivery, policy.unknown_outcome):
            return Resend()
        return Fail("outcome_unknown")
    if not outcome.retryable:
        return Fail(outcome.reason)
    if attempt >= policy.max_attempts:
        return Fail(f"retries_exhausted:{outcome.reason}")
    if budget.inline_left > 0:
        return RetryInline(
            policy.inline_backoff_s * (0.5 + jitter),
            replace(budget, inline_left=budget.inline_left - 1),
        )
    return Park(park_delay_s(policy, attempt, jitter), outcome.reason, attempt)


def circuit_open(attempt: int, breaker_retry_in_s: float) -> Park:
    """The provider's breaker is open before ``attempt``: no call, due once it may probe."""
    return Park(breaker_retry_in_s + 0.5, "circuit_open", max(attempt - 1, 0))


def park_delay_s(policy: RetryPolicy, attempt: int, jitter: float = 0.5) -> float:
    """Doubling from ``park_initial_s`` per attempt made, capped, ±20 %."""
    base = policy.park_initial_s * (2 ** max(0, attempt - 1))
    return min(policy.park_max_s, base) * (0.8 + 0.4 * jitter)


def resends_unknown(redelivery: Redelivery, policy: UnknownOutcomePolicy) -> bool:
    """docs/dispatch.md, "Crash safety": a key makes a resend harmless; "auto" also accepts
    a resend carrying the same Message-ID; "fail" and "resend" override the rest."""
    if redelivery == "idempotency_key" or policy == "resend":
        return True
    return policy == "auto" and redelivery == "message_id"
