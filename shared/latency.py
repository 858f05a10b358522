"""How long a message took from one point of its life to a later step, as one histogram,
so an SLO reads straight off it ("99 % of e-mails handed to the SMTP relay within 5 s of
acceptance").  Labels stay bounded: the step, the channel family and an outcome word;
never a user or a message id."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from prometheus_client import Histogram

# Steps, in the order a message meets them.
RESOLVED = "resolved"  # accepted -> address read from the vault (or resolution failed)
DISPATCHED = "dispatched"  # accepted -> first provider call started
PROVIDER_ACCEPTED = "provider_accepted"  # accepted -> provider took it (or it failed for good)
CALLBACK_DELIVERED = "callback_delivered"  # status seen by the relay -> Smartico acknowledged

PIPELINE_SECONDS = Histogram(
    "blindpost_pipeline_step_seconds",
    "Seconds from a message's acceptance (for callbacks: the status being seen) to a step",
    ["step", "family", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400),
)


def observe_step(step: str, family: str, outcome: str, since: datetime) -> None:
    """Records the time from ``since`` (an event's ``occurred_at``) to now; clocks of two
    hosts may disagree by a little, so a negative age counts as zero."""
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    _histogram(step, family, outcome).observe(max(0.0, (datetime.now(UTC) - since).total_seconds()))


@functools.cache
def _histogram(step: str, family: str, outcome: str) -> Histogram:
    """The labelled child, looked up once per message otherwise (the labels are bounded)."""
    return PIPELINE_SECONDS.labels(step, family, outcome)
