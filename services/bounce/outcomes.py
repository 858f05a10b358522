"""What each kind of report becomes on the event log (pure), as a table.

A permanent failure is ``failed`` for Smartico, a complaint ``complained``, a success DSN
``delivered``: ``status.reported`` events, the ones status ingest writes for providers'
webhooks, so the callback relay reports them once per (message, status) however often a
remote MTA sends the same report.  A transient failure (``delayed``) is not final and not
reported: it is counted and logged with its class only.
"""

from __future__ import annotations

import uuid

from services.bounce.reports import Kind, Report
from shared.domain import SmarticoStatus
from shared.events import Event, StatusReported

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


def events_for(ext_message_id: uuid.UUID, report: Report) -> list[Event]:
    status = STATUSES[report.kind]
    if status is None:
        return []
    return [
        Event.create(
            ext_message_id,
            StatusReported(
                provider=PROVIDER,
                provider_status=PROVIDER_STATUSES[report.kind],
                status=status,
                detail=report.code_class,
            ),
            PRODUCER,
            # One event per message and kind: the same report sent twice is stored once.
            discriminator=(PROVIDER, report.kind),
        )
    ]
