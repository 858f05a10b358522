"""A known campaign on the event log, the counts a reader makes of it by hand, and the
deliverability service's metrics read back in the same shape."""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from shared.domain import Channel, SmarticoStatus
from shared.events import DispatchSucceeded, Event, StatusReported
from tests.support import events as build

# What the test expects each status to count as: its own table, not the service's.
KINDS = {
    SmarticoStatus.DELIVERED: "delivery",
    SmarticoStatus.FAILED: "bounce",
    SmarticoStatus.REJECTED: "bounce",
    SmarticoStatus.COMPLAINED: "complaint",
    SmarticoStatus.OPENED: "open",
    SmarticoStatus.UNSUBSCRIBED: "unsubscribe",
}
Counts = dict[tuple[str, str, str], float]  # (kind, sending_domain, provider) -> count


@dataclass
class Campaign:
    """Events as the dispatchers, the bounce receiver and status ingest write them."""

    rng: random.Random
    events: list[Event] = field(default_factory=list)

    def send(self, domain: str | None, provider: str, count: int) -> list[uuid.UUID]:
        sent = [uuid.uuid4() for _ in range(count)]
        channel = Channel.EMAIL if domain else Channel.SMS
        for mid in sent:
            self.events.append(
                build.dispatched(mid, channel=channel, provider=provider, sending_domain=domain)
            )
        return sent

    def report(self, mids: list[uuid.UUID], status: SmarticoStatus, share: float) -> None:
        for mid in self.rng.sample(mids, round(len(mids) * share)):
            provider, provider_status = ("bounce", "dsn_failed")
            if status is not SmarticoStatus.FAILED:
                provider, provider_status = "sendgrid", status.value
            self.events.append(
                build.status_reported(
                    mid, status, provider=provider, provider_status=provider_status
                )
            )


def counted_by_hand(log: list[Event]) -> Counts:
    """Each message sent with a domain counts once as sent and once per kind reported."""
    sent: dict[uuid.UUID, tuple[str, str]] = {}
    seen: set[tuple[uuid.UUID, str]] = set()
    counts: Counter[tuple[str, str, str]] = Counter()
    for event in log:
        payload = event.payload
        mid = event.ext_message_id
        if isinstance(payload, DispatchSucceeded) and payload.sending_domain and mid not in sent:
            sent[mid] = (payload.sending_domain, payload.provider)
            counts["sent", payload.sending_domain, payload.provider] += 1
        elif isinstance(payload, StatusReported) and mid in sent:
            kind = KINDS.get(payload.status)
            if kind and (mid, kind) not in seen:
                seen.add((mid, kind))
                counts[(kind, *sent[mid])] += 1
    return dict(counts)


def ratios_by_hand(counts: Counts) -> dict[tuple[str, str], float]:
    """(kind, domain) -> share of the domain's sends, for every kind (none reported: 0)."""
    per_domain: defaultdict[tuple[str, str], float] = defaultdict(float)
    for (kind, domain, _provider), count in counts.items():
        per_domain[kind, domain] += count
    domains = {domain for _kind, domain in per_domain}
    return {
        (kind, domain): per_domain[kind, domain] / per_domain["sent", domain]
        for kind in set(KINDS.values())
        for domain in domains
    }


@dataclass(frozen=True)
class Scrape:
    counts: Counts
    ratios: dict[tuple[str, str], float]
    levels: dict[str, float]


async def scrape(port: int, window: str = "24h") -> Scrape:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
    counts: Counts = {}
    ratios: dict[tuple[str, str], float] = {}
    levels: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("window", window) != window:
                continue
            if sample.name == "blindpost_deliverability_events":
                counts[labels["kind"], labels["sending_domain"], labels["provider"]] = sample.value
            elif sample.name == "blindpost_deliverability_ratio":
                ratios[labels["kind"], labels["sending_domain"]] = sample.value
            elif sample.name == "blindpost_deliverability_complaint_level":
                levels[labels["sending_domain"]] = sample.value
    return Scrape(counts, ratios, levels)
