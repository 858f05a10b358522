"""What each kind of report becomes on the event log (pure), as a table.

A permanent failure is ``failed`` for Smartico, a complaint ``complained``, a success DSN
``delivered``: ``status.reported`` events, the ones status ingest writes for providers'
webhooks, so the callback relay reports them once per (message, status) however often a
remote MTA sends the same report.  A transient failure (``delayed``) is not final and not
reported: it is a ``status.not_applied`` (outcome ``transient``, with its status class) on
the message's stream, so the message's timeline shows the delay.
"""

from __future__ import annotations

import uuid

from services.bounce.reports import Kind, Report
from shared.domain import SmarticoStatus
from shared.events import AnyPayload, Event, StatusNotApplied, StatusReported

PRODUCER = "bounce-receiver"
PROVIDER = "bounce"  # the provider name status ingest's suppression table knows

STATUSES: dict[Kind, SmarticoStatus | None] = {
    "permanent": SmarticoStatus.FAILED,
    "complaint": SmarticoStatus.COMPLAINED,
    "delivered": SmarticoStatus.DELIVERED,
    "transient": None,
}
PROVIDER_STATUSES: dict[Kind, str] = {
    "permanent": "dsn_failed",
    "complaint": "arf_complaint",
    "delivered": "dsn_delivered",
    "transient": "dsn_delayed",
}


def payload_of(report: Report) -> AnyPayload:
    provider_status = PROVIDER_STATUSES[report.kind]
    status = STATUSES[report.kind]
    if status is None:
        return StatusNotApplied(
            provider=PROVIDER,
            outcome="transient",
            provider_status=provider_status,
            detail=report.code_class,
        )
    return StatusReported(
        provider=PROVIDER, provider_status=provider_status, status=status, detail=report.code_class
    )


def events_for(ext_message_id: uuid.UUID, report: Report) -> list[Event]:
    return [
        Event.create(
            ext_message_id,
            payload_of(report),
            PRODUCER,
            # One event per message and kind: the same report sent twice is stored once (a
            # later delay notice for the same message too: the first delay is the fact).
            discriminator=(PROVIDER, report.kind),
        )
    ]
