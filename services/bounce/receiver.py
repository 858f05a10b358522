"""The SMTP side of the bounce receiver (aiosmtpd): refuse at RCPT every address we did not
mint (so it is no open relay and no spam trap), read the report in DATA, and answer 250 only
once its status event is on the broker (451 otherwise: the remote MTA tries again later).

The report itself is never stored or logged: it quotes the recipient's address and the
original mail.  What is kept is the message id (from the VERP address), the kind of report
and the status class.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

from aiokafka.errors import KafkaError
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import Envelope, Session
from prometheus_client import Counter

from services.bounce.outcomes import events_for
from services.bounce.reports import Report, read_report
from shared.events import Event
from shared.logging import get_logger
from shared.verp import Verp

log = get_logger(__name__)
# aiosmtpd logs envelopes and data at debug level: addresses, never in our logs.
logging.getLogger("mail.log").setLevel(logging.WARNING)

REPORTS = Counter(
    "blindpost_bounce_reports_total",
    "Reports received at the bounce port, by kind"
    " (permanent, transient, delivered, complaint, unrecognised)",
    ["kind"],
)
REFUSED = Counter(
    "blindpost_bounce_recipients_refused_total",
    "RCPT TO addresses refused because they are not a VERP address of ours",
)

Publish = Callable[[Sequence[Event]], Awaitable[None]]


class BounceHandler:
    """aiosmtpd handler; ``publish`` returns once the broker acknowledged every event."""

    def __init__(self, verp: Verp, publish: Publish, *, max_recipients: int = 16) -> None:
        self.verp = verp
        self.publish = publish
        self.max_recipients = max_recipients

    async def handle_RCPT(
        self,
        server: SMTPProtocol,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.verp.message_of(address) is None:
            REFUSED.inc()
            return "550 5.1.1 No such recipient here"
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTPProtocol, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode()
        messages = [m for m in map(self.verp.message_of, envelope.rcpt_tos) if m is not None]
        report = read_report(data)
        return await self.record(messages, report)

    async def record(self, messages: list[uuid.UUID], report: Report | None) -> str:
        if report is None:
            REPORTS.labels("unrecognised").inc()
            log.info("report not recognised, dropped", messages=len(messages))
            return "250 2.0.0 OK"
        events = [event for mid in messages for event in events_for(mid, report)]
        try:
            await self.publish(events)
        except (KafkaError, OSError) as exc:
            log.warning("report not recorded, sender asked to retry", error=type(exc).__name__)
            return "451 4.3.0 Try again later"
        REPORTS.labels(report.kind).inc(len(messages))
        for mid in messages:
            log.info(
                "report received",
                ext_message_id=str(mid),
                kind=report.kind,
                status_class=report.code_class,
            )
        return "250 2.0.0 OK"
