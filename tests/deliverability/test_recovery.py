"""The deliverability service against real Kafka: its ratios are the ones a reader counts
by hand from the same event log, they survive a SIGKILL unchanged (tables rebuilt from
their changelogs, nothing counted twice), and a complaint ratio over the threshold is
recorded on the log once."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from shared.domain import SmarticoStatus
from shared.events import DeliverabilityComplaintRateChanged, Event, domain_stream_id
from shared.topics import Topics
from tests.deliverability.support import (
    Campaign,
    Scrape,
    counted_by_hand,
    ratios_by_hand,
    scrape,
)
from tests.support.events import payload_of
from tests.support.kafka import publish, read_topic
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.timeout(90)

NOISY = "news.operator.example"  # complaints over the 0.3 % threshold
CLEAN = "mail.operator.example"


def _campaign() -> Campaign:
    campaign = Campaign(random.Random(14))
    noisy_smtp = campaign.send(NOISY, "smtp", 20)
    noisy_sendgrid = campaign.send(NOISY, "sendgrid", 20)
    clean = campaign.send(CLEAN, "smtp", 20)
    campaign.send(None, "twilio", 3)  # SMS: no sending domain, not counted
    for mids in (noisy_smtp, noisy_sendgrid, clean):
        campaign.report(mids, SmarticoStatus.DELIVERED, 0.8)
        campaign.report(mids, SmarticoStatus.FAILED, 0.1)
        campaign.report(mids, SmarticoStatus.OPENED, 0.4)
        campaign.report(mids, SmarticoStatus.UNSUBSCRIBED, 0.05)
    campaign.report(noisy_smtp, SmarticoStatus.COMPLAINED, 0.1)
    # A remote MTA sends the same DSN twice; a provider reports an open twice.
    campaign.events += campaign.events[-3:] + [campaign.events[len(campaign.events) // 2]]
    return campaign


def _matches(scraped: Scrape, log: list[Event]) -> bool:
    expected_ratios = ratios_by_hand(counted_by_hand(log))
    return (
        scraped.counts == counted_by_hand(log)
        and scraped.ratios.keys() == expected_ratios.keys()
        and all(math.isclose(scraped.ratios[k], v) for k, v in expected_ratios.items())
    )


SESSION_S = 6  # the broker's minimum: the restart waits out the killed member's session


async def test_ratios_match_the_log_and_survive_a_sigkill(
    base_env: dict[str, str], topics: Topics, kafka_bootstrap: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **base_env,
        "BLINDPOST_DELIVERABILITY_PORT": str(port),
        "BLINDPOST_DELIVERABILITY_MIN_SENT": "20",
        "BLINDPOST_DELIVERABILITY_SESSION_TIMEOUT_S": str(SESSION_S),
    }
    service = ServiceProcess("deliverability", env, port, tmp_path / "deliverability.log")
    campaign = _campaign()
    log = campaign.events
    await publish(kafka_bootstrap, topics.message_events, log)
    try:
        await service.start()
        first = await eventually(
            lambda: _scraped_if(port, log),
            within=30,
            what="the ratios of the log",
            details=service.log_tail,
        )
        assert first is not None
        assert first.ratios["complaint", NOISY] > 0.003
        assert first.levels == {NOISY: 2, CLEAN: 0}

        service.kill()  # at once: what was counted may not be committed yet
        # Ready after a SIGKILL takes the dead member's session (6 s here) and faust's end
        # of recovery: a changelog ending in an aborted transaction is only seen as read
        # after two idle 5 s cycles (faust/tables/recovery.py). About 25 s under load.
        await service.start(timeout_s=SESSION_S + 2 * 5 + 30)
        # Recovered from the changelogs (what was committed), then the rest of the log
        # read again from the committed offsets: the same numbers, none counted twice.
        seen: list[Scrape] = []
        await eventually(
            lambda: _same(port, first, seen),
            within=20,
            what="the numbers from before the kill",
            details=lambda: f"before: {first}\nafter: {seen[-1:]}",
        )

        more = Campaign(random.Random(15))
        later = more.send(CLEAN, "smtp", 5)
        more.report(later, SmarticoStatus.COMPLAINED, 1.0)
        await publish(kafka_bootstrap, topics.message_events, more.events)
        log = log + more.events
        # Exactly the hand count of everything: nothing before the kill counted twice.
        await eventually(
            lambda: _scraped_if(port, log),
            within=20,
            what="the new events counted once",
            details=service.log_tail,
        )
    finally:
        service.stop()

    records = await read_topic(kafka_bootstrap, topics.message_events, timeout_s=5)
    # Sent again after a crash, an event has the same id: the event store keeps it once.
    alerts = {
        event.event_id: payload_of(event, DeliverabilityComplaintRateChanged)
        for event in (Event.from_bytes(r.value) for r in records)
        if event.ext_message_id == domain_stream_id(NOISY)
    }
    assert [(a.previous, a.level) for a in alerts.values()] == [("ok", "critical")], (
        "the threshold crossed is recorded once, not again after the restart"
    )
    (alert,) = alerts.values()
    assert alert.complaints >= 1 and alert.sent >= 20 and alert.sending_domain == NOISY


async def _scraped_if(port: int, log: list[Event]) -> Scrape | None:
    scraped = await scrape(port)
    return scraped if _matches(scraped, log) else None


async def _same(port: int, before: Scrape, seen: list[Scrape]) -> bool:
    seen.append(await scrape(port))
    return seen[-1] == before
