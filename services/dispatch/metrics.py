"""The dispatchers' Prometheus metrics (base units; labels never carry an address)."""

import functools
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

ATTEMPTS = Counter(
    "blindpost_dispatch_attempts_total", "Provider calls made", ["family", "channel", "provider"]
)
OUTCOMES = Counter(
    "blindpost_dispatch_outcomes_total",
    "Results of provider calls and of messages settled without a call",
    ["family", "channel", "provider", "outcome", "reason"],
)
SEND_SECONDS = Histogram(
    "blindpost_dispatch_send_duration_seconds",
    "Time one provider call took",
    ["family", "provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PARKED = Counter(
    "blindpost_dispatch_parked_total",
    "Messages parked on the ledger for a later retry",
    ["family", "reason"],
)
PARKED_NOW = Gauge(
    "blindpost_dispatch_parked_messages",
    "Messages parked on the ledger right now (every replica of a family reports the same count)",
    ["family"],
)
DUPLICATES = Counter(
    "blindpost_dispatch_duplicate_work_total",
    "Work items whose message the ledger already knew (redelivered or emitted twice); never resent",
    ["family", "ledger_state"],
)
FAILOVERS = Counter(
    "blindpost_dispatch_failovers_total",
    "Messages handed to the channel's next provider (the previous one was open or failed)",
    ["channel", "to_provider"],
)
SMS_SEGMENTS = Counter(
    "blindpost_dispatch_sms_segments_total",
    "Message segments handed to SMS-family providers, by encoding",
    ["channel", "encoding"],
)


# The hot path looks its labelled series up per message; prometheus_client's labels() costs
# more than the increment, so the few series there are are cached.
@functools.lru_cache(maxsize=512)
def attempts(family: str, channel: str, provider: str) -> Any:
    return ATTEMPTS.labels(family, channel, provider)


@functools.lru_cache(maxsize=512)
def sent(family: str, channel: str, provider: str) -> Any:
    return OUTCOMES.labels(family, channel, provider, "sent", "")


@functools.lru_cache(maxsize=512)
def send_seconds(family: str, provider: str) -> Any:
    return SEND_SECONDS.labels(family, provider)
