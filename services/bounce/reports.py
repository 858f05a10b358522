"""Reading what a remote MTA sends back (pure: no I/O).

- A delivery status notification (RFC 3464: ``multipart/report;
  report-type=delivery-status``): each per-recipient block has an ``Action`` and a
  ``Status`` (``5.1.1``).  ``failed`` is a permanent failure, ``delayed`` a transient one,
  ``delivered`` a success; ``relayed`` and ``expanded`` say nothing final and are ignored.
- A feedback report (ARF, RFC 5965: ``multipart/report; report-type=feedback-report``) with
  a ``Feedback-Type`` of abuse, fraud or virus (or ``other``) is a complaint.

The message a report is about comes from the VERP address it was sent to, never from the
report (which quotes addresses): only the action, the status code and the feedback type are
read, and nothing else of the report is kept.  Reports that are neither (autoreplies,
non-standard bounces) are :data:`None`: counted by the caller, never guessed at.
flufl.bounce was considered: its detectors answer *which addresses* bounced, which VERP
already tells us and which is exactly what we must not handle, and not the DSN's status.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from typing import Literal

Kind = Literal["permanent", "transient", "delivered", "complaint"]
STATUS_CODE = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other"})
_ACTIONS: dict[str, Kind] = {
    "failed": "permanent",
    "delayed": "transient",
    "delivered": "delivered",
}
# Worst first: a report about several recipients (one VERP address each, so rare) counts as
# its worst outcome.
_RANK: dict[Kind, int] = {"permanent": 0, "transient": 1, "delivered": 2, "complaint": 0}
MAX_PARTS = 64


@dataclass(frozen=True)
class Report:
    kind: Kind
    code: str | None = None  # the DSN status (``5.1.1``) or the feedback type (``abuse``)

    @property
    def code_class(self) -> str | None:
        """``5.1.1`` -> ``5.1``: the class of a DSN status (subject and detail are ours to
        keep; nothing of the diagnostic text is)."""
        if self.kind == "complaint" or self.code is None:
            return self.code
        return ".".join(self.code.split(".")[:2])


def read_report(data: bytes) -> Report | None:
    """The report in a raw message, or None when it is not a DSN or an ARF report."""
    try:
        message = email.message_from_bytes(data, policy=email.policy.compat32)
        if message.get_content_type() != "multipart/report":
            return None
        report_type = str(message.get_param("report-type", "") or "").lower()
        parts = list(_parts(message))
        if report_type == "feedback-report":
            return _feedback(parts)
        if report_type == "delivery-status":
            return _delivery_status(parts)
    except (ValueError, TypeError, LookupError, AttributeError, IndexError):
        return None  # a malformed report is no report
    return None


def _parts(message: Message) -> list[Message]:
    payload = message.get_payload()
    if not isinstance(payload, list):
        return []
    return [part for part in payload[:MAX_PARTS] if isinstance(part, Message)]


def _feedback(parts: list[Message]) -> Report | None:
    for part in parts:
        if part.get_content_type() != "message/feedback-report":
            continue
        fields = _fields(part)
        feedback_type = fields.get("feedback-type", "").strip().lower()
        if feedback_type in COMPLAINT_TYPES:
            return Report("complaint", feedback_type)
    return None


def _delivery_status(parts: list[Message]) -> Report | None:
    found: list[Report] = []
    for part in parts:
        if part.get_content_type() != "message/delivery-status":
            continue
        # The first block holds the per-message fields, the rest one recipient each.
        for block in _blocks(part)[1:]:
            action = str(block.get("Action", "")).strip().lower()
            kind = _ACTIONS.get(action)
            if kind is None:
                continue
            status = STATUS_CODE.match(str(block.get("Status", "")))
            code = ".".join(status.groups()) if status else None
            found.append(Report(kind, code))
    if not found:
        return None
    return min(found, key=lambda report: _RANK[report.kind])


def _blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload[:MAX_PARTS] if isinstance(block, Message)]
    return []


def _fields(part: Message) -> dict[str, str]:
    """The header fields of a ``message/feedback-report`` body (parsed as one block)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        block = payload[0] if payload and isinstance(payload[0], Message) else None
        return {k.lower(): str(v) for k, v in block.items()} if block is not None else {}
    text = payload if isinstance(payload, str) else ""
    fields: dict[str, str] = {}
    for line in text.splitlines()[:200]:
        name, colon, value = line.partition(":")
        if colon and name and not name[0].isspace():
            fields.setdefault(name.strip().lower(), value.strip())
    return fields
