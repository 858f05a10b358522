"""Which reported statuses put a player on the vault's suppression list, as a table, and
the vault call that does it.

A hard bounce, a complaint or an unsubscribe reported by an e-mail provider's webhook or by
the bounce receiver, and a complaint or opt-out reported for WhatsApp, suppress that channel.
Statuses from our own tracking are not here: the one-click unsubscribe already records an
opt-out in the vault before it is reported.  Only rows whose channel is certain are listed
(a generic SMS provider's statuses may be for SMS, Viber or WhatsApp).

:class:`SuppressionFeed` applies this to every ``status.reported`` on the event log, so a
status that was parked before its ``dispatch.succeeded`` suppresses too, and a vault that is
away holds the feed (retried) instead of losing the suppression.  The vault finds the
player from the message: nothing here knows who it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import KafkaError
from prometheus_client import Counter

from shared.domain import Channel
from shared.events import Event, EventType, StatusReported, read_event
from shared.kafka import Consumption, commit_assigned, next_offsets

STAGE = "status-suppressions"
STATUS_REPORTED = EventType.STATUS_REPORTED.value.encode()

SUPPRESSING: dict[tuple[str, str], tuple[Channel, str]] = {
    ("bounce", "dsn_failed"): (Channel.EMAIL, "hard_bounce"),
    ("bounce", "arf_complaint"): (Channel.EMAIL, "complaint"),
    ("sendgrid", "bounce:bounce"): (Channel.EMAIL, "hard_bounce"),
    ("sendgrid", "bounce"): (Channel.EMAIL, "hard_bounce"),
    ("sendgrid", "spamreport"): (Channel.EMAIL, "complaint"),
    ("sendgrid", "unsubscribe"): (Channel.EMAIL, "unsubscribe"),
    ("sendgrid", "group_unsubscribe"): (Channel.EMAIL, "unsubscribe"),
    ("mailgun", "failed:permanent"): (Channel.EMAIL, "hard_bounce"),
    ("mailgun", "complained"): (Channel.EMAIL, "complaint"),
    ("mailgun", "unsubscribed"): (Channel.EMAIL, "unsubscribe"),
    ("ses", "bounce:permanent"): (Channel.EMAIL, "hard_bounce"),
    ("ses", "complaint"): (Channel.EMAIL, "complaint"),
    ("ses", "subscription"): (Channel.EMAIL, "unsubscribe"),
}

SUPPRESSIONS = Counter(
    "blindpost_status_suppressions_total",
    "Suppressions asked of the vault, by outcome (recorded, unknown_recipient, refused)",
    ["outcome"],
)


@dataclass(frozen=True)
class SuppressionRequest:
    """Names a message (the vault finds its recipient) or, for a STOP, a phone number."""

    ext_message_id: str | None
    channel: Channel
    reason: str
    source: str
    detail: str | None
    phone: str | None = field(default=None, repr=False)  # never in a log line

    def body(self) -> dict[str, object]:
        body = {
            "ext_message_id": self.ext_message_id,
            "phone": self.phone,
            "channel": self.channel.value,
            "reason": self.reason,
            "source": self.source,
            "detail": self.detail,
        }
        return {name: value for name, value in body.items() if value is not None}


def suppression_for(event: Event) -> SuppressionRequest | None:
    payload = event.payload
    if not isinstance(payload, StatusReported):
        return None
    found = SUPPRESSING.get((payload.provider, payload.provider_status.lower()))
    if found is None:
        return None
    channel, reason = found
    return SuppressionRequest(
        str(event.ext_message_id), channel, reason, payload.provider, payload.detail
    )


class VaultUnreachable(OSError):
    """The batch is retried (the matcher's consume loop retries OSError)."""


class VaultSuppressions:
    session: aiohttp.ClientSession

    def __init__(self, base_url: str, token: str) -> None:
        self.url = base_url.rstrip("/") + "/v1/suppressions"
        self._token = token

    async def record(self, requests: Iterable[SuppressionRequest]) -> None:
        headers = {"Authorization": f"Bearer {self._token}", "X-Blindpost-Caller": "status-ingest"}
        for request in requests:
            try:
                async with self.session.post(
                    self.url, json=request.body(), headers=headers
                ) as response:
                    status = response.status
            except aiohttp.ClientError as exc:
                raise VaultUnreachable(type(exc).__name__) from None
            if status == 404:
                # No address was given out for it (a preview, a message from before the
                # vault's audit log), or no player has that number: nothing to suppress, and
                # retrying would not change it.
                SUPPRESSIONS.labels("unknown_recipient").inc()
            elif status == 400:
                # Refused as it is (a number that is no phone number): never better on retry,
                # and it must not hold the feed.
                SUPPRESSIONS.labels("refused").inc()
            elif status >= 300:
                raise VaultUnreachable(f"vault answered {status}")
            else:
                SUPPRESSIONS.labels("recorded").inc()


class SuppressionFeed:
    """Its own consumer group on the event log, so a vault that is away delays suppressions
    and nothing else (the matcher goes on).  Offsets are committed after the vault recorded
    the batch; the vault's insert is idempotent, so a batch redone after a crash is harmless."""

    def __init__(self, consumer: AIOKafkaConsumer, vault: VaultSuppressions) -> None:
        self.consumer = consumer
        self.vault = vault

    async def run(self, stop: asyncio.Event | None = None) -> None:
        # The whole fetch at once: one vault call and one offset commit, not one per partition.
        await Consumption(
            self.consumer,
            self._handle,
            stage=STAGE,
            retry_on=(OSError, KafkaError),
            per_partition=False,
        ).run(stop)

    async def _handle(self, records: list[ConsumerRecord]) -> None:
        wanted = []
        for record in records:
            if STATUS_REPORTED not in record.value[:200]:
                continue  # cheap: most events are not statuses
            try:
                event = read_event(record.value, STAGE)
            except Exception:  # noqa: BLE001, S112 - the matcher dead-letters poison records
                continue
            if event is not None and (request := suppression_for(event)):
                wanted.append(request)
        if wanted:
            await self.vault.record(wanted)
        await commit_assigned(self.consumer, next_offsets(records), stage=STAGE)
