"""Events of a sending domain's deliverability: its complaint ratio crossing a level (the
deliverability service), and an operator resuming its parked mail (``blindpost
deliverability resume``).  On the domain's own stream (``domain_stream_id``), never a
message's, so a domain's events are ordered on one partition."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import Field

from shared.events.payload import EventType, Payload

ComplaintLevel = Literal["ok", "warning", "critical"]

_DOMAINS = uuid.UUID("4f0b8c3e-2d71-4a96-8e15-7c9a3b6d0f28")


def domain_stream_id(sending_domain: str) -> uuid.UUID:
    """The stream of one sending domain's deliverability events."""
    return uuid.uuid5(_DOMAINS, sending_domain.lower())


class DeliverabilityComplaintRateChanged(Payload):
    """A sending domain's complaint ratio over ``window`` moved to another ``level``
    (``warning`` and ``critical`` by the configured thresholds, ``ok`` below both)."""

    event_type: ClassVar[EventType] = EventType.DELIVERABILITY_COMPLAINT_RATE_CHANGED
    sending_domain: str = Field(description="the operator's From domain, never an address")
    level: ComplaintLevel
    previous: ComplaintLevel
    window: str
    complaints: int = Field(ge=0)
    sent: int = Field(ge=0)
    ratio: float = Field(ge=0)


class DeliverabilityDomainResumed(Payload):
    """An operator resumed a parked sending domain (``blindpost deliverability resume``):
    the e-mail dispatcher sends its parked mail again.  ``resumed_by`` is the operator as
    the command names them; their words (``--reason``) stay in the dispatch database's
    ``dispatch_domain_resumes``, never in an event."""

    event_type: ClassVar[EventType] = EventType.DELIVERABILITY_DOMAIN_RESUMED
    sending_domain: str = Field(description="the operator's From domain, never an address")
    resumed_by: str
