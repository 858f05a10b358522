"""Pure rules of the relay: which statuses an event reports, the callback URL, what counts
as success, and the retry schedule.  No I/O here."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Literal

from yarl import URL

from shared.domain import Channel, SmarticoStatus
from shared.events import (
    DispatchFailed,
    DispatchSucceeded,
    Event,
    MessageAccepted,
    RecipientResolutionFailed,
    StatusReported,
)


@dataclass(frozen=True)
class MessageFacts:
    """What the relay must remember per message to call back (from ``message.accepted``)."""

    channel: Channel
    callback_url: str


def facts_from(event: Event) -> MessageFacts | None:
    if not isinstance(accepted := event.payload, MessageAccepted):
        return None
    return MessageFacts(accepted.channel, accepted.callback_url)


def status_from(event: Event) -> SmarticoStatus | None:
    """The Smartico status an event reports, if any (issue 6)."""
    match event.payload:
        case StatusReported(status=status):
            return status
        case RecipientResolutionFailed():
            return SmarticoStatus.FAILED
        case DispatchSucceeded():
            return SmarticoStatus.ACCEPTED
        case DispatchFailed(retryable=retryable):
            return None if retryable else SmarticoStatus.FAILED
    return None


def callback_url(
    base: URL, channel: Channel, ext_message_id: str, status: SmarticoStatus, api_key: str
) -> URL:
    """The URL's own query parameters are kept; ours are added (replacing same-named ones,
    so a callback_url cannot smuggle a different status or id)."""
    url = base
    ours = {
        "type": channel.family.value,
        "ext_message_id": ext_message_id,
        "status": status.value,
        "api_key": api_key,
    }
    kept = [(k, v) for k, v in url.query.items() if k not in ours]
    return url.with_query([*kept, *ours.items()])


Outcome = Literal["delivered", "retry"]
_ERROR_CODE = re.compile(rb'"error_code"\s*:\s*(-?\d+)')


def judge_response(http_status: int, body: bytes) -> tuple[Outcome, int | None]:
    """Success is HTTP 200 with ``error_code`` 0.  Smartico's own example body has a
    trailing comma (``{"error_code": 0,}``), so a body that is not strict JSON is read
    leniently for that one field."""
    error_code: int | None = None
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict) and isinstance(parsed.get("error_code"), int):
            error_code = parsed["error_code"]
    except (ValueError, UnicodeDecodeError):
        match = _ERROR_CODE.search(body[:4096])
        error_code = int(match.group(1)) if match else None
    ok = http_status == 200 and error_code == 0
    return ("delivered" if ok else "retry"), error_code


@dataclass(frozen=True)
class RetryPolicy:
    initial_s: float
    maximum_s: float
    period_s: float

    def delay(self, attempt: int) -> float:
        """Exponential with jitter in [half, full] of the step, so a recovering endpoint
        is not hit by every message at the same instant."""
        step = min(self.maximum_s, self.initial_s * (2 ** min(attempt - 1, 40)))
        return step * random.uniform(0.5, 1.0)
