"""The projections, as pure functions of events: a message's current state
(``apply(state, event) -> state``) and the counts per status and channel derived from it.

The live projector, the replay from the event store and the replay from Kafka all call
these same functions, in stream order, so they reach the same result.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.eventstore.chain import iso
from services.eventstore.stages import STATUS_RANK, Stage
from shared import events
from shared.domain import SmarticoStatus
from shared.events import Envelope, Event, EventType


@dataclass(frozen=True)
class MessageState:
    ext_message_id: uuid.UUID
    version: int = 0
    channel: str | None = None
    ext_user_id: str | None = None
    uid: str | None = None
    status: str | None = None
    stage: str | None = None
    status_times: Mapping[str, str] = field(default_factory=dict)
    accepted_at: datetime | None = None
    last_event_at: datetime | None = None
    attempts: int = 0
    provider: str | None = None
    provider_message_id: str | None = None
    callbacks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    body_redacted: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "ext_message_id": str(self.ext_message_id),
            "version": self.version,
            "channel": self.channel,
            "ext_user_id": self.ext_user_id,
            "uid": self.uid,
            "status": self.status,
            "stage": self.stage,
            "status_times": dict(self.status_times),
            "accepted_at": iso(self.accepted_at) if self.accepted_at else None,
            "last_event_at": iso(self.last_event_at) if self.last_event_at else None,
            "attempts": self.attempts,
            "provider": self.provider,
            "provider_message_id": self.provider_message_id,
            "callbacks": {k: dict(v) for k, v in self.callbacks.items()},
            "body_redacted": self.body_redacted,
        }

    @property
    def count_key(self) -> tuple[str, str] | None:
        if self.status is None or self.channel is None:
            return None
        return (self.status, self.channel)


Changes = dict[str, Any]


def _status(state: MessageState, status: SmarticoStatus, at: datetime) -> Changes:
    times = dict(state.status_times)
    times.setdefault(status.value, iso(at))
    current = SmarticoStatus(state.status) if state.status else None
    if current is None or STATUS_RANK[status] >= STATUS_RANK[current]:
        return {"status": status.value, "status_times": times}
    return {"status_times": times}


def _request(p: events.MessageAccepted | events.MessageRefused) -> Changes:
    """What Smartico's request said, accepted or refused."""
    return {"channel": p.channel.value, "ext_user_id": p.ext_user_id, "uid": p.uid}


def _accepted(state: MessageState, p: events.MessageAccepted, event: Event) -> Changes:
    return {
        **_request(p),
        "accepted_at": event.occurred_at,
        "stage": state.stage or Stage.ACCEPTED,
        **_status(state, SmarticoStatus.ACCEPTED, event.occurred_at),
    }


def _resolved(state: MessageState, p: events.RecipientResolved, event: Event) -> Changes:
    return {"channel": state.channel or p.channel.value, "stage": Stage.RESOLVED}


def _resolution_failed(
    state: MessageState, p: events.RecipientResolutionFailed, event: Event
) -> Changes:
    return {
        "channel": state.channel or p.channel.value,
        "stage": Stage.RESOLUTION_FAILED,
        **_status(state, SmarticoStatus.FAILED, event.occurred_at),
    }


def _attempted(state: MessageState, p: events.DispatchAttempted, event: Event) -> Changes:
    return {
        "channel": state.channel or p.channel.value,
        "stage": Stage.DISPATCHING,
        "provider": p.provider,
        "attempts": max(state.attempts, p.attempt),
    }


def _dispatched(state: MessageState, p: events.DispatchSucceeded, event: Event) -> Changes:
    return {
        "channel": state.channel or p.channel.value,
        "stage": Stage.DISPATCHED,
        "provider": p.provider,
        "provider_message_id": p.provider_message_id or state.provider_message_id,
        "attempts": max(state.attempts, p.attempt),
    }


def _dispatch_failed(state: MessageState, p: events.DispatchFailed, event: Event) -> Changes:
    changes: Changes = {
        "channel": state.channel or p.channel.value,
        "stage": Stage.RETRYING if p.retryable else Stage.DISPATCH_FAILED,
        "provider": p.provider,
        "attempts": max(state.attempts, p.attempt),
    }
    if not p.retryable:
        changes.update(_status(state, SmarticoStatus.FAILED, event.occurred_at))
    return changes


def _parked(state: MessageState, p: events.DispatchParked, event: Event) -> Changes:
    return {
        "channel": state.channel or p.channel.value,
        "stage": Stage.PARKED,
        "provider": p.provider,
    }


def _resumed(state: MessageState, p: events.DispatchResumed, event: Event) -> Changes:
    return {"channel": state.channel or p.channel.value, "stage": Stage.DISPATCHING}


def _provider_status(state: MessageState, p: events.StatusReported, event: Event) -> Changes:
    return {
        "provider": state.provider or p.provider,
        "provider_message_id": state.provider_message_id or p.provider_message_id,
        **_status(state, p.status, p.reported_at or event.occurred_at),
    }


def _callback(state: MessageState, status: str, **changes: Any) -> Changes:
    # Only the entry that changes is copied: states never change one they hold.
    entry = dict(state.callbacks.get(status, {"attempts": 0, "outcome": None}))
    entry["attempts"] = max(entry["attempts"], changes.pop("attempts", 0))
    entry.update(changes)
    return {"callbacks": {**state.callbacks, status: entry}}


def _callback_attempted(state: MessageState, p: events.CallbackAttempted, event: Event) -> Changes:
    if state.callbacks.get(p.status.value, {}).get("outcome") in ("delivered", "dead_lettered"):
        return _callback(state, p.status.value, attempts=p.attempt)
    return _callback(
        state,
        p.status.value,
        attempts=p.attempt,
        outcome=p.outcome,
        http_status=p.http_status,
        at=iso(event.occurred_at),
    )


def _callback_delivered(state: MessageState, p: events.CallbackDelivered, event: Event) -> Changes:
    return _callback(
        state, p.status.value, attempts=p.attempts, outcome="delivered", at=iso(event.occurred_at)
    )


def _callback_dead(state: MessageState, p: events.CallbackDeadLettered, event: Event) -> Changes:
    return _callback(
        state,
        p.status.value,
        attempts=p.attempts,
        outcome="dead_lettered",
        at=iso(event.occurred_at),
    )


def _redriven(state: MessageState, p: events.DeadLetterRedriven, event: Event) -> Changes:
    """A re-driven callback's next attempts and outcome arrive as their own events."""
    return {}


def _body_redacted(state: MessageState, p: events.MessageBodyRedacted, event: Event) -> Changes:
    return {"body_redacted": True}


def _refused(state: MessageState, p: events.MessageRefused, event: Event) -> Changes:
    """A refusal's own stream: no status, so it never counts among messages."""
    return {**_request(p), "stage": Stage.REFUSED}


def _status_not_applied(state: MessageState, p: events.StatusNotApplied, event: Event) -> Changes:
    """On a message's stream it changes nothing but the timeline; on a report's own
    stream (no message known) it says so."""
    if state.channel is not None:
        return {}
    return {
        "stage": Stage.STATUS_UNMATCHED,
        "provider": p.provider,
        "provider_message_id": p.provider_message_id,
    }


def _suppression(
    state: MessageState, p: events.SuppressionRecorded | events.SuppressionRemoved, event: Event
) -> Changes:
    """On the causing message's stream it changes nothing but the timeline; on the
    suppression's own stream (no message caused it) it says where the suppression stands."""
    if event.ext_message_id != events.suppression_id_for(p.ext_user_id, p.channel):
        return {}
    recorded = isinstance(p, events.SuppressionRecorded)
    stage = Stage.SUPPRESSED if recorded else Stage.SUPPRESSION_REMOVED
    return {"channel": p.channel.value, "ext_user_id": p.ext_user_id, "stage": stage}


def _domain_event(
    state: MessageState,
    p: events.DeliverabilityComplaintRateChanged | events.DeliverabilityDomainResumed,
    event: Event,
) -> Changes:
    """A sending domain's own stream (deliverability): no message, no status, no count."""
    return {}


Handler = Callable[[MessageState, Any, Event], Changes]
HANDLERS: dict[EventType, Handler] = {
    EventType.MESSAGE_ACCEPTED: _accepted,
    EventType.RECIPIENT_RESOLVED: _resolved,
    EventType.RECIPIENT_RESOLUTION_FAILED: _resolution_failed,
    EventType.DISPATCH_ATTEMPTED: _attempted,
    EventType.DISPATCH_SUCCEEDED: _dispatched,
    EventType.DISPATCH_FAILED: _dispatch_failed,
    EventType.STATUS_REPORTED: _provider_status,
    EventType.CALLBACK_ATTEMPTED: _callback_attempted,
    EventType.CALLBACK_DELIVERED: _callback_delivered,
    EventType.CALLBACK_DEAD_LETTERED: _callback_dead,
    EventType.DEAD_LETTER_REDRIVEN: _redriven,
    EventType.MESSAGE_BODY_REDACTED: _body_redacted,
    EventType.MESSAGE_REFUSED: _refused,
    EventType.STATUS_NOT_APPLIED: _status_not_applied,
    EventType.DISPATCH_PARKED: _parked,
    EventType.DISPATCH_RESUMED: _resumed,
    EventType.SUPPRESSION_RECORDED: _suppression,
    EventType.SUPPRESSION_REMOVED: _suppression,
    EventType.DELIVERABILITY_COMPLAINT_RATE_CHANGED: _domain_event,
    EventType.DELIVERABILITY_DOMAIN_RESUMED: _domain_event,
}


def apply(state: MessageState | None, event: Event | Envelope) -> MessageState:
    """The next state of ``event``'s message; ``state`` None for its first event.  An event
    newer than this code (an ``Envelope``) changes nothing but the version, which stays the
    stream's: a replay after the upgrade that knows it brings its effect."""
    state = state or MessageState(ext_message_id=event.ext_message_id)
    changes = HANDLERS[event.type](state, event.payload, event) if isinstance(event, Event) else {}
    last = state.last_event_at
    changes["version"] = state.version + 1
    changes["last_event_at"] = (
        event.occurred_at if last is None or event.occurred_at > last else last
    )
    return _evolve(state, changes)


def _evolve(state: MessageState, changes: Changes) -> MessageState:
    """``dataclasses.replace(state, **changes)`` for the names of its fields, without going
    through the frozen ``__init__`` one field at a time: the projector makes one per event,
    and that cost more than the handlers themselves."""
    evolved = object.__new__(MessageState)
    evolved.__dict__.update(state.__dict__)
    evolved.__dict__.update(changes)
    return evolved


def count_deltas(
    changes: Iterable[tuple[MessageState | None, MessageState]],
) -> Counter[tuple[str, str]]:
    """How the counts per (status, channel) move when states change from before to after."""
    deltas: Counter[tuple[str, str]] = Counter()
    for before, after in changes:
        old = before.count_key if before else None
        new = after.count_key
        if old == new:
            continue
        if old:
            deltas[old] -= 1
        if new:
            deltas[new] += 1
    return deltas
