"""Lifecycle events: every state of every message is one immutable ``Event`` on the topic
``blindpost.message-events``, keyed by ``ext_message_id``.  How they may change while old
and new versions run side by side: docs/event-log.md, "Evolving events"."""

from shared.events.catalogue import (
    PAYLOAD_TYPES,
    AnyPayload,
    CallbackAttempted,
    CallbackDeadLettered,
    CallbackDelivered,
    DeadLetterRedriven,
    DispatchAttempted,
    DispatchFailed,
    DispatchSucceeded,
    EventType,
    MessageAccepted,
    MessageBodyRedacted,
    MessageContent,
    Payload,
    RecipientResolutionFailed,
    RecipientResolved,
    RecipientSource,
    StatusReported,
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
from shared.events.upcasting import UPCASTERS, upcast

__all__ = [
    "PAYLOAD_TYPES",
    "SKIPPED",
    "UPCASTERS",
    "AnyPayload",
    "CallbackAttempted",
    "CallbackDeadLettered",
    "CallbackDelivered",
    "DeadLetterRedriven",
    "DispatchAttempted",
    "DispatchFailed",
    "DispatchSucceeded",
    "Envelope",
    "Event",
    "EventType",
    "MessageAccepted",
    "MessageBodyRedacted",
    "MessageContent",
    "Payload",
    "RecipientResolutionFailed",
    "RecipientResolved",
    "RecipientSource",
    "SkipReason",
    "StatusReported",
    "Unreadable",
    "count_skipped",
    "read_event",
    "upcast",
]
