"""The catalogue of lifecycle events: one wire string, one enum member and one payload class
per event, with the same name (``"dispatch.succeeded"``, ``EventType.DISPATCH_SUCCEEDED``,
``DispatchSucceeded``).

Payloads are read tolerantly (a field a newer producer added is kept, not refused) and
written strictly (``Event.create`` refuses a field the class does not declare).  None of
them may carry an address or a number, sealed or not (DESIGN.md rule 1): addresses travel
only in dispatch work items (``shared.work``), sealed.
"""

from __future__ import annotations

from typing import get_args

from shared.events.deliverability import (
    DeliverabilityComplaintRateChanged,
    DeliverabilityDomainResumed,
)
from shared.events.dispatch import (
    DispatchAttempted,
    DispatchFailed,
    DispatchParked,
    DispatchResumed,
    DispatchSucceeded,
)
from shared.events.message import (
    MessageAccepted,
    MessageBodyRedacted,
    MessageRefused,
    RecipientResolutionFailed,
    RecipientResolved,
)
from shared.events.payload import EventType
from shared.events.reports import (
    CallbackAttempted,
    CallbackDeadLettered,
    CallbackDelivered,
    DeadLetterRedriven,
    StatusNotApplied,
    StatusReported,
)
from shared.events.suppressions import SuppressionRecorded, SuppressionRemoved

# The typed payload of an ``Event``, discriminated by ``Event.type``: narrow it with
# ``isinstance`` or ``match``.
AnyPayload = (
    MessageAccepted
    | RecipientResolved
    | RecipientResolutionFailed
    | DispatchAttempted
    | DispatchSucceeded
    | DispatchFailed
    | StatusReported
    | CallbackAttempted
    | CallbackDelivered
    | CallbackDeadLettered
    | DeadLetterRedriven
    | MessageBodyRedacted
    | MessageRefused
    | StatusNotApplied
    | DispatchParked
    | DispatchResumed
    | SuppressionRecorded
    | SuppressionRemoved
    | DeliverabilityComplaintRateChanged
    | DeliverabilityDomainResumed
)

PAYLOAD_TYPES: dict[EventType, type[AnyPayload]] = {
    cls.event_type: cls for cls in get_args(AnyPayload)
}
# By wire string too: a plain ``str`` lookup, no enum conversion on the hot path.
PAYLOAD_BY_WIRE: dict[str, type[AnyPayload]] = {t.value: c for t, c in PAYLOAD_TYPES.items()}
