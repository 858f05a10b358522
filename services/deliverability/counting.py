"""What the deliverability service counts, as pure functions: which events count as what,
each (message, kind) once, and the complaint level a domain's counts put it at.

A message is counted when its ``dispatch.succeeded`` names a sending domain (e-mail only:
the dispatcher writes the domain of the From address, never the address).  Its later
reports count against that domain and provider: ``delivered`` as a delivery, ``failed``
or ``rejected`` as a bounce (a DSN from the bounce receiver, or a provider's bounce or
block), ``complained``, ``opened`` and ``unsubscribed``.  Each kind counts once per
message however often it is reported (a remote MTA sends the same DSN twice; a
re-delivered record is read twice), so a ratio is of messages, never of reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from shared.domain import SmarticoStatus
from shared.events import ComplaintLevel, DispatchSucceeded, Event, StatusReported

Kind = Literal["sent", "delivery", "bounce", "complaint", "open", "unsubscribe"]
# Each a share of the messages sent (the denominator, "sent").
RATIO_KINDS: tuple[Kind, ...] = ("delivery", "bounce", "complaint", "open", "unsubscribe")

STATUS_KINDS: dict[SmarticoStatus, Kind] = {
    SmarticoStatus.DELIVERED: "delivery",
    SmarticoStatus.FAILED: "bounce",
    SmarticoStatus.REJECTED: "bounce",
    SmarticoStatus.COMPLAINED: "complaint",
    SmarticoStatus.OPENED: "open",
    SmarticoStatus.UNSUBSCRIBED: "unsubscribe",
}


@dataclass(frozen=True)
class Counted:
    """One (message, kind) counted against a domain and provider."""

    sending_domain: str
    provider: str
    kind: Kind

    def key(self, partition: int) -> str:
        return table_key(self.sending_domain, self.provider, self.kind, partition)


def table_key(sending_domain: str, provider: str, kind: str, partition: int) -> str:
    """A count's key names the event-log partition it was counted from: each key is then
    written from one partition only, so its changelog partition (and the transaction that
    commits it) is that partition's.  A flat string: faust stores windowed keys as JSON,
    where a tuple would come back a list."""
    return f"{sending_domain}|{provider}|{kind}|{partition}"


def split_key(key: str) -> tuple[str, str, str]:
    """(sending domain, provider, kind): the partition summed away."""
    sending_domain, provider, kind, _partition = key.split("|")
    return sending_domain, provider, kind


MessageState = dict[str, Any]  # {"sending_domain", "provider", "counted": [kinds]}


def observe(state: MessageState | None, event: Event) -> tuple[MessageState | None, Counted | None]:
    """The message's next state (None: unchanged) and what to count, if anything."""
    payload = event.payload
    if isinstance(payload, DispatchSucceeded):
        if state is not None or not payload.sending_domain:
            return None, None  # sent once; a re-emitted dispatch.succeeded is the same send
        counted = Counted(payload.sending_domain, payload.provider, "sent")
        return _state(counted, ["sent"]), counted
    if isinstance(payload, StatusReported) and state is not None:
        kind = STATUS_KINDS.get(payload.status)
        if kind is None or kind in state["counted"]:
            return None, None
        counted = Counted(state["sending_domain"], state["provider"], kind)
        return _state(counted, [*state["counted"], kind]), counted
    return None, None


def _state(counted: Counted, kinds: list[str]) -> MessageState:
    return {
        "sending_domain": counted.sending_domain,
        "provider": counted.provider,
        "counted": kinds,
    }


@dataclass(frozen=True)
class Thresholds:
    critical: float
    warning: float
    min_sent: int

    def level(self, complaints: int, sent: int) -> ComplaintLevel:
        if sent < self.min_sent:
            return "ok"
        ratio = complaints / sent
        if ratio >= self.critical:
            return "critical"
        if ratio >= self.warning:
            return "warning"
        return "ok"


def ratio(count: int, sent: int) -> float | None:
    return count / sent if sent else None
