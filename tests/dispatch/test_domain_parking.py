"""A sending domain whose complaints reach the critical level: with
BLINDPOST_DISPATCH_EMAIL_PARK_ON_COMPLAINTS the e-mail dispatcher parks its mail (through a
restart) until `blindpost deliverability resume`, then sends it once each; without the
setting nothing is parked.  Real Kafka, PostgreSQL and aiosmtpd."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg

from services.dispatch.domain_view import change_of
from services.dispatch.email_main import create_email_app
from services.dispatch.parked_domains import HOLD_REASON, Parked, Resumed
from services.dispatch.settings import EmailSettings
from shared.domain import Channel
from shared.events import (
    DeliverabilityDomainResumed,
    DispatchParked,
    DispatchResumed,
    Event,
    EventType,
)
from shared.work import DispatchWork
from tests.dispatch.support import (
    RecordingSmtpHandler,
    Served,
    dispatch_until_settled,
    make_work,
    outcomes,
    produce,
    produce_work,
    settled,
    smtp_server,
    wait_for_events,
)
from tests.support import events as build
from tests.support.polling import eventually
from tests.support.processes import run_cli

PARKED_DOMAIN = "promo.parked.example"
KEPT_DOMAIN = "news.kept.example"


def test_only_a_critical_level_parks_and_only_a_resume_resumes() -> None:
    critical = build.complaint_rate_changed("Promo.Parked.Example", "critical", "warning")
    assert change_of(critical) == Parked(PARKED_DOMAIN, critical.event_id, 3, 100, 0.03)
    assert change_of(build.complaint_rate_changed(level="warning")) is None
    # A level that falls again resumes nothing: the operator decides.
    assert change_of(build.complaint_rate_changed(level="ok", previous="critical")) is None
    assert change_of(build.domain_resumed(PARKED_DOMAIN)) == Resumed(PARKED_DOMAIN)
    assert change_of(build.dispatched(uuid.uuid4(), sending_domain=PARKED_DOMAIN)) is None


def _mail(keypair: tuple[str, str], domain: str, n: int) -> DispatchWork:
    return make_work(
        Channel.EMAIL,
        f"player-{uuid.uuid4().hex[:8]}@players.test",
        keypair[1],
        subject=f"Offer {n}",
        body="<p>Hi</p>",
        from_email_address=f"Offers <offers@{domain}>",
    )


def _received(handler: RecordingSmtpHandler) -> list[str]:
    return [rcpt for _sender, rcpts, _data in handler.received for rcpt in rcpts]


def _recipient(work: DispatchWork, keypair_private: str) -> str:
    from shared.sealing import SealingKeyring

    opened = SealingKeyring.parse([keypair_private]).open(
        work.sealed_recipient, work.sealing_context()
    )
    return opened.decode()


def _held(events: list[Event], works: list[DispatchWork]) -> bool:
    by_id = outcomes(events)
    return all(
        any(
            isinstance(e.payload, DispatchParked) and e.payload.reason == HOLD_REASON
            for e in by_id.get(w.ext_message_id, [])
        )
        for w in works
    )


async def _parked_domains(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT sending_domain FROM dispatch_parked_domains")
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await conn.close()
    return [r["sending_domain"] for r in rows]


async def test_a_critical_domain_is_parked_through_a_restart_and_sent_once_after_resume(
    dispatch_env, topics, keypair, kafka_bootstrap, events_dsn
):
    handler = RecordingSmtpHandler()
    server, port = await smtp_server(handler)
    env = {
        **dispatch_env,
        "BLINDPOST_SMTP_PORT": str(port),
        "BLINDPOST_DISPATCH_EMAIL_PARK_ON_COMPLAINTS": "true",
        # Held mail comes due again and again during the test: the sweeper holds it again
        # (without a second dispatch.parked), it never sends it.
        "BLINDPOST_DISPATCH_EMAIL_PARK_RECHECK_S": "0.5",
    }
    levels = [
        build.complaint_rate_changed(PARKED_DOMAIN, "critical", "warning"),
        build.complaint_rate_changed(KEPT_DOMAIN, "warning", "ok"),  # a warning parks nothing
    ]
    await produce(
        kafka_bootstrap, topics.message_events, [e.to_bytes() for e in levels],
        [e.key for e in levels],
    )
    first = [_mail(keypair, PARKED_DOMAIN, 1), _mail(keypair, KEPT_DOMAIN, 2),
             _mail(keypair, PARKED_DOMAIN, 3)]
    second = [_mail(keypair, PARKED_DOMAIN, 4), _mail(keypair, KEPT_DOMAIN, 5)]
    parked = [w for w in first + second if PARKED_DOMAIN in (w.content.from_email_address or "")]
    kept = [w for w in first + second if w not in parked]
    address = {w.ext_message_id: _recipient(w, keypair[0]) for w in first + second}
    try:
        async with Served(create_email_app(EmailSettings.from_env(env))):
            await eventually(
                lambda: _parked_domains(events_dsn), within=60, what="the domain parked"
            )
            assert await _parked_domains(events_dsn) == [PARKED_DOMAIN]
            await produce_work(kafka_bootstrap, topics.dispatch(Channel.EMAIL), first)
            await wait_for_events(
                kafka_bootstrap, topics.message_events,
                lambda events: settled(1)(events) and _held(events, parked[:2]),
            )
        # A restart: the parked domain is in the database, not in the process.
        async with Served(create_email_app(EmailSettings.from_env(env))):
            await produce_work(kafka_bootstrap, topics.dispatch(Channel.EMAIL), second)
            await wait_for_events(
                kafka_bootstrap, topics.message_events,
                lambda events: settled(2)(events) and _held(events, parked),
            )
            # The kept domain's mail went out in the same batches: the parked one's
            # absence is the hold, not a slow send.
            assert sorted(_received(handler)) == sorted(address[w.ext_message_id] for w in kept)

            listed = await asyncio.to_thread(
                run_cli, env, "deliverability", "parked", "--format", "json"
            )
            assert listed.returncode == 0, listed.stderr
            [row] = json.loads(listed.stdout)
            assert (row["sending_domain"], row["held"]) == (PARKED_DOMAIN, len(parked))

            refused = await asyncio.to_thread(
                run_cli, env, "deliverability", "resume", KEPT_DOMAIN, "--reason", "x"
            )
            assert refused.returncode == 1 and "not parked" in refused.stderr
            resumed = await asyncio.to_thread(
                run_cli, env, "deliverability", "resume", PARKED_DOMAIN.upper(),
                "--reason", "list cleaned, campaign 7 stopped",
            )
            assert resumed.returncode == 0, resumed.stderr
            assert f"its held mail goes out now ({len(parked)} messages)" in resumed.stdout
            events = await wait_for_events(
                kafka_bootstrap, topics.message_events, settled(len(first + second))
            )
            await eventually(
                lambda: len(_received(handler)) == len(first + second),
                within=10, what="every mail received",
            )
    finally:
        server.close()

    # Each parked mail received once, after its park and resume.
    assert sorted(_received(handler)) == sorted(address.values())
    by_id = outcomes(events)
    for work in parked:
        types = [e.type for e in by_id[work.ext_message_id]]
        assert types == [
            EventType.DISPATCH_PARKED, EventType.DISPATCH_RESUMED,
            EventType.DISPATCH_ATTEMPTED, EventType.DISPATCH_SUCCEEDED,
        ], types
        assert build.payload_of(by_id[work.ext_message_id][1], DispatchResumed).attempt == 1
    for work in kept:
        assert [e.type for e in by_id[work.ext_message_id]] == [
            EventType.DISPATCH_ATTEMPTED, EventType.DISPATCH_SUCCEEDED,
        ]
    [resume] = [e for e in events if isinstance(e.payload, DeliverabilityDomainResumed)]
    assert build.payload_of(resume, DeliverabilityDomainResumed).sending_domain == PARKED_DOMAIN
    # The operator's words stay in the database, never in the log.
    assert "campaign 7" not in resume.model_dump_json()
    conn = await asyncpg.connect(events_dsn)
    try:
        reason = await conn.fetchval("SELECT reason FROM dispatch_domain_resumes")
        held_left = await conn.fetchval(
            "SELECT count(*) FROM dispatch_ledger WHERE held_for IS NOT NULL"
        )
    finally:
        await conn.close()
    assert reason == "list cleaned, campaign 7 stopped" and held_left == 0
    assert await _parked_domains(events_dsn) == []


async def test_without_the_setting_a_critical_domain_is_sent_to(
    dispatch_env, topics, keypair, kafka_bootstrap
):
    handler = RecordingSmtpHandler()
    server, port = await smtp_server(handler)
    env = {**dispatch_env, "BLINDPOST_SMTP_PORT": str(port)}
    critical = build.complaint_rate_changed(PARKED_DOMAIN, "critical", "warning")
    await produce(kafka_bootstrap, topics.message_events, [critical.to_bytes()], [critical.key])
    works = [_mail(keypair, PARKED_DOMAIN, 1), _mail(keypair, KEPT_DOMAIN, 2)]
    try:
        events = await dispatch_until_settled(
            create_email_app(EmailSettings.from_env(env)), kafka_bootstrap, topics, works
        )
    finally:
        server.close()
    assert len(_received(handler)) == 2
    assert not any(e.type is EventType.DISPATCH_PARKED for e in events)
