"""What a provider call can come to, and how transport failures are classed.

A failure carries a *class* (``reason``) written by our code: a provider's own error text
can quote the address back, so it never reaches an event, a log line or a metric.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class Sent:
    provider_message_id: str | None
    segments: int | None = None


class ProviderFailure(Exception):
    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


# Failures after which the provider may have taken the message all the same (it stopped
# answering mid-call): only that provider can recognise a resend, so a message that met one
# never fails over to another (docs/dispatch.md, "Failover").
MAYBE_TAKEN = frozenset({"timeout", "bad_response", "connection_error", "unexpected_error"})


def may_have_been_taken(failure: ProviderFailure) -> bool:
    return failure.retryable and failure.reason.split(":")[0] in MAYBE_TAKEN


class PermanentFailure(ProviderFailure):
    def __init__(self, reason: str) -> None:
        super().__init__(reason, retryable=False)


class TransientFailure(ProviderFailure):
    def __init__(self, reason: str) -> None:
        super().__init__(reason, retryable=True)


def http_failure(status: int) -> ProviderFailure:
    """HTTP answers that are not success: 408, 425, 429 and 5xx are worth retrying."""
    if status in (408, 425, 429) or status >= 500:
        return TransientFailure(f"http_{status}")
    return PermanentFailure(f"http_{status}")


def transport_failure(exc: BaseException) -> ProviderFailure | None:
    """A network-level failure as a transient class, or None if ``exc`` is not one."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return TransientFailure("timeout")
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return TransientFailure("connect_failed")  # nothing was sent
    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError | OSError):
        return TransientFailure("connection_error")
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ContentTypeError):
        return TransientFailure("bad_response")
    return None
