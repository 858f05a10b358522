"""Lifecycle events: every state of every message is one immutable ``Event`` on the topic
``blindpost.message-events``, keyed by ``ext_message_id``.  How they may change while old
and new versions run side by side: docs/event-log.md, "Evolving events"."""

from shared.events.catalogue import PAYLOAD_TYPES, AnyPayload
from shared.events.deliverability import (
    ComplaintLevel,
    DeliverabilityComplaintRateChanged,
    DeliverabilityDomainResumed,
    domain_stream_id,
)
from shared.events.dispatch import (
    DispatchAttempted,
    DispatchFailed,
    DispatchParked,
    DispatchResumed,
    DispatchSucceeded,
)
from shared.events.envelope import (
    SKIPPED,
    Envelope,
    Event,
    SkipReason,
    Unreadable,
    count_skipped,
    read_event,
)
from shared.events.message import (
    MessageAccepted,
    MessageBodyRedacted,
    MessageContent,
    MessageRefused,
    RecipientResolutionFailed,
    RecipientResolved,
    RecipientSource,
    ResolutionFailure,
)
from shared.events.payload import EventType, Payload
from shared.events.reports import (
    CallbackAttempted,
    CallbackDeadLettered,
    CallbackDelivered,
    DeadLetterRedriven,
    StatusNotApplied,
    StatusNotAppliedOutcome,
    StatusReported,
)
from shared.events.streams import refusal_id_for, report_id_for, suppression_id_for
from shared.events.suppressions import SuppressionRecorded, SuppressionRemoved
from shared.events.upcasting import UPCASTERS, upcast

__all__ = [
    "PAYLOAD_TYPES",
    "SKIPPED",
    "UPCASTERS",
    "AnyPayload",
    "CallbackAttempted",
    "CallbackDeadLettered",
    "CallbackDelivered",
    "ComplaintLevel",
    "DeadLetterRedriven",
    "DeliverabilityComplaintRateChanged",
    "DeliverabilityDomainResumed",
    "DispatchAttempted",
    "DispatchFailed",
    "DispatchParked",
    "DispatchResumed",
    "DispatchSucceeded",
    "Envelope",
    "Event",
    "EventType",
    "MessageAccepted",
    "MessageBodyRedacted",
    "MessageContent",
    "MessageRefused",
    "Payload",
    "RecipientResolutionFailed",
    "RecipientResolved",
    "RecipientSource",
    "ResolutionFailure",
    "SkipReason",
    "StatusNotApplied",
    "StatusNotAppliedOutcome",
    "StatusReported",
    "SuppressionRecorded",
    "SuppressionRemoved",
    "Unreadable",
    "count_skipped",
    "domain_stream_id",
    "read_event",
    "refusal_id_for",
    "report_id_for",
    "suppression_id_for",
    "upcast",
]
