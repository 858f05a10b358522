"""``status.not_applied``: a provider's report that changed no status is an event too —
one the mapping ignores, one it does not know, one naming no message we sent, and one
parked for its message until it expired.  On the message's stream when we know it; else
on the report's own (``report_id_for``: by its provider message id, or its event key), so
that an auditor can still find it and the message streams hold only messages."""

from __future__ import annotations

import re
import uuid

from shared.events import Event, StatusNotApplied, StatusNotAppliedOutcome, report_id_for

PRODUCER = "status-ingest"
# A provider's status is a code, but an unknown one is whatever the provider sent: keep
# only what a code is made of (never a provider's free text, which may hold an address).
_NOT_CODE = re.compile(r"[^A-Za-z0-9_.:-]")


def sanitised(provider_status: str) -> str:
    return _NOT_CODE.sub("_", provider_status[:40]) or "_"


def not_applied(
    outcome: StatusNotAppliedOutcome,
    provider: str,
    provider_status: str,
    event_key: str,
    ext_message_id: uuid.UUID | None = None,
    provider_message_id: str | None = None,
) -> Event:
    stream = ext_message_id or report_id_for(provider, provider_message_id or event_key)
    return Event.create(
        stream,
        StatusNotApplied(
            provider=provider,
            outcome=outcome,
            provider_status=sanitised(provider_status),
            provider_message_id=provider_message_id,
        ),
        PRODUCER,
        discriminator=(provider, outcome, event_key),
    )
