"""A dispatcher killed with SIGKILL mid-batch sends nothing twice and loses nothing,
counted at the receiving server; its logs and the event log hold no address."""

from __future__ import annotations

import asyncio
import email
import json
from collections import Counter
from collections.abc import Callable

import pytest
from aiohttp import web

from shared.domain import Channel
from shared.events import (
    DispatchAttempted,
    DispatchFailed,
    DispatchResumed,
    DispatchSucceeded,
    Event,
    EventType,
)
from shared.topics import Topics
from shared.work import DispatchWork
from tests.dispatch.support import (
    RecordingSmtpHandler,
    Served,
    TwilioServer,
    events_of,
    make_work,
    outcomes,
    produce_work,
    settled,
    smtp_server,
    wait_for,
    wait_for_events,
)
from tests.support.events import payload_of
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

N = 300
KILL_AT = 120


def phone(i: int) -> str:
    return f"+44770090{i:04d}"


async def produce_until_killed(
    process: ServiceProcess, bootstrap: str, topics: Topics, works: list[DispatchWork]
) -> set:
    """Produces the work and waits for the receiving server to kill the dispatcher; returns
    the messages it had reported Dispatched."""
    await produce_work(bootstrap, topics.dispatch(works[0].channel), works)
    popen = process.process
    assert popen is not None
    await wait_for(lambda: popen.poll() is not None, timeout_s=60)
    events = await events_of(bootstrap, topics.message_events, timeout_s=3.0)
    return {e.ext_message_id for e in events if e.type == EventType.DISPATCH_SUCCEEDED}


async def restart_until_all_dispatched(
    process: ServiceProcess, bootstrap: str, topics: Topics, works: list[DispatchWork]
) -> list[Event]:
    ids = [w.ext_message_id for w in works]

    def done(events: list[Event]) -> bool:
        by_id = outcomes(events)
        return all(any(e.type == EventType.DISPATCH_SUCCEEDED for e in by_id.get(i, [])) for i in ids)

    await process.start()
    return await wait_for_events(bootstrap, topics.message_events, done, timeout_s=90)


class IdempotentProvider:
    """The generic provider as a real one behaves: a repeated Idempotency-Key gets the first
    answer and is not delivered again.  It can kill the dispatcher in the middle of a call."""

    def __init__(self) -> None:
        self.delivered: dict[str, dict] = {}
        self.requests: Counter[str] = Counter()
        self.kill: Callable[[], None] | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/sms", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        body = await request.json()
        self.requests[key] += 1
        if key in self.delivered:
            return web.json_response(self.delivered[key])
        await asyncio.sleep(0.002)  # a provider takes a moment; calls overlap
        answer = {"message_id": f"gen-{len(self.delivered) + 1}"}
        self.delivered[key] = answer
        assert body["ext_message_id"] == key
        if len(self.delivered) == KILL_AT and self.kill is not None:
            self.kill()  # taken by the provider, never answered to the dispatcher
            await asyncio.sleep(1)
        return web.json_response(answer)


@pytest.mark.slow
async def test_sms_dispatcher_killed_mid_batch(
    dispatch_env, topics, keypair, kafka_bootstrap, tmp_path
):
    provider = IdempotentProvider()
    port = free_port()
    async with Served(provider.app()) as served:
        env = {
            **dispatch_env,
            "BLINDPOST_SMS_HTTP_URL": f"{served.url}/sms",
            "BLINDPOST_DISPATCH_SMS_PORT": str(port),
            "BLINDPOST_DISPATCH_INLINE_RETRIES": "0",
            "BLINDPOST_DISPATCH_SEND_TIMEOUT_S": "2",
            # Batches well under KILL_AT: some batches are wholly reported before the kill,
            # so the "never resent once reported" check below is never vacuous.
            "BLINDPOST_DISPATCH_MAX_BATCH": "40",
        }
        log_path = tmp_path / "dispatch-sms.log"
        process = await ServiceProcess("dispatch-sms", env, port, log_path).start()
        provider.kill = process.kill
        works = [
            make_work(Channel.SMS, phone(i), keypair[1], body=f"message {i}") for i in range(N)
        ]
        try:
            before = await produce_until_killed(process, kafka_bootstrap, topics, works)
            assert len(provider.delivered) < N  # it really died mid-way
            assert before
            events = await restart_until_all_dispatched(process, kafka_bootstrap, topics, works)
        finally:
            process.stop()

    # Loses nothing: every message reached the provider.  Sends nothing twice: a message the
    # first run had reported DispatchSucceeded (so its ledger said 'sent') was never sent again; only
    # those whose outcome it had not recorded were repeated, with their idempotency key, so
    # the provider delivered each once.
    assert set(provider.delivered) == {str(w.ext_message_id) for w in works}
    repeated = {key for key, count in provider.requests.items() if count > 1}
    assert max(provider.requests.values()) <= 2
    assert not repeated & {str(mid) for mid in before}
    by_id = outcomes(events)
    for work in works:
        final = [e for e in by_id[work.ext_message_id] if e.type == EventType.DISPATCH_SUCCEEDED]
        assert len({e.event_id for e in final}) == 1
        assert (
            payload_of(final[0], DispatchSucceeded).provider_message_id
            == provider.delivered[str(work.ext_message_id)]["message_id"]
        )
    log_text = log_path.read_text()
    assert "outcome is unknown" in log_text
    everything = log_text + "".join(e.model_dump_json() for e in events)
    for i in range(N):
        assert phone(i) not in everything and phone(i)[1:] not in everything


@pytest.mark.slow
async def test_email_dispatcher_killed_mid_batch(
    dispatch_env, topics, keypair, kafka_bootstrap, tmp_path
):
    handler = RecordingSmtpHandler()
    server, smtp_port = await smtp_server(handler)
    port = free_port()
    env = {
        **dispatch_env,
        "BLINDPOST_SMTP_PORT": str(smtp_port),
        "BLINDPOST_DISPATCH_EMAIL_PORT": str(port),
        "BLINDPOST_DISPATCH_INLINE_RETRIES": "0",
        "BLINDPOST_DISPATCH_SEND_TIMEOUT_S": "2",
        "BLINDPOST_DISPATCH_MAX_BATCH": "40",  # see the SMS test
    }
    # SMTP has no idempotency key: by default ("auto") an unknown outcome is resent with the
    # same Message-ID.
    log_path = tmp_path / "dispatch-email.log"
    process = await ServiceProcess("dispatch-email", env, port, log_path).start()
    received_at_kill: list[int] = []

    def on_data(_data: bytes) -> None:
        if len(handler.received) == KILL_AT:
            received_at_kill.append(len(handler.received))
            process.kill()  # the mail is taken, the 250 never reaches the dispatcher

    handler.on_data = on_data
    works = [
        make_work(
            Channel.EMAIL,
            f"player{i}@crash-test.example",
            keypair[1],
            subject=f"mail {i}",
            text_body="hello",
            body="<p>hello</p>",
        )
        for i in range(N)
    ]
    try:
        before = await produce_until_killed(process, kafka_bootstrap, topics, works)
        assert 0 < len(before) < N  # it really died mid-way
        events = await restart_until_all_dispatched(process, kafka_bootstrap, topics, works)
    finally:
        process.stop()
        server.close()

    message_ids = Counter(
        email.message_from_bytes(data)["Message-ID"] for _f, _r, data in handler.received
    )
    expected = {f"<{w.ext_message_id}@blindpost.local>" for w in works}
    assert set(message_ids) == expected  # loses nothing
    # Nothing twice, as the mailbox sees it: a mail the first run had reported DispatchSucceeded was
    # never sent again; a resend (only of mails whose outcome it had not recorded) carries the
    # same Message-ID, which the sink and receivers that deduplicate store once.
    repeated = {mid for mid, count in message_ids.items() if count > 1}
    assert max(message_ids.values()) <= 2
    assert not repeated & {f"<{mid}@blindpost.local>" for mid in before}
    everything = log_path.read_text() + "".join(e.model_dump_json() for e in events)
    assert "@crash-test.example" not in everything
    assert json.dumps(received_at_kill) == f"[{KILL_AT}]"


async def test_unknown_outcome_is_resent_only_where_the_provider_recognises_it(
    dispatch_env, events_dsn, topics, keypair, kafka_bootstrap
):
    """What a dispatcher that died mid-call leaves: rows 'sending' whose lease ran out.  The
    sweeper resends through the generic provider (idempotency key) and fails the Twilio one
    (no key: at most once) without calling Twilio.  A row claimed whose call never began
    (it waited on a limit) is no unknown outcome: Twilio sends it."""
    from services.dispatch import ledger as ledger_module
    from services.dispatch.settings import SmsSettings, ViberSettings
    from services.dispatch.sms_main import create_sms_app
    from services.dispatch.viber_main import create_viber_app
    from shared.db import create_pool

    generic, twilio = IdempotentProvider(), TwilioServer()
    viber = make_work(Channel.VIBER, phone(1), keypair[1], body="viber")
    sms = make_work(Channel.SMS, phone(2), keypair[1], body="sms")
    waiting = make_work(Channel.SMS, phone(3), keypair[1], body="never called")
    await ledger_module.migrate(events_dsn)
    pool = await create_pool(events_dsn)
    try:
        ledger = ledger_module.Ledger(pool, "sms")
        viber_claim = ledger_module.Claim(
            viber.ext_message_id, "viber", "generic", viber.to_bytes()
        )
        claimed, _ = await ledger_module.Ledger(pool, "viber").claim([viber_claim], lease_s=0)
        sms_claims = [
            ledger_module.Claim(w.ext_message_id, "sms", "twilio", w.to_bytes())
            for w in (sms, waiting)
        ]
        claimed |= (await ledger.claim(sms_claims, lease_s=0))[0]
        assert len(claimed) == 3
        # The calls began for these two, then the dispatcher died.
        await ledger.mark_called([(viber.ext_message_id, 1), (sms.ext_message_id, 1)])
        async with Served(generic.app()) as gen, Served(twilio.app()) as tw:
            env = {
                **dispatch_env,
                "BLINDPOST_SMS_HTTP_URL": f"{gen.url}/sms",
                "BLINDPOST_SMS_PROVIDER": "twilio",
                "BLINDPOST_TWILIO_ACCOUNT_SID": "AC1",
                "BLINDPOST_TWILIO_AUTH_TOKEN": "t",
                "BLINDPOST_TWILIO_BASE_URL": tw.url,
            }
            async with (
                Served(create_sms_app(SmsSettings.from_env(env))),
                Served(create_viber_app(ViberSettings.from_env(env))),
            ):
                events = await wait_for_events(
                    kafka_bootstrap,
                    topics.message_events,
                    settled(3),
                )
        by_id = outcomes(events)
        # The sweeper took both from the ledger (dispatch.resumed, from 'sending').
        assert [e.type for e in by_id[viber.ext_message_id]] == [
            EventType.DISPATCH_RESUMED,
            EventType.DISPATCH_ATTEMPTED,
            EventType.DISPATCH_SUCCEEDED,
        ]
        assert payload_of(by_id[viber.ext_message_id][0], DispatchResumed).resumed_from == "sending"
        assert payload_of(by_id[viber.ext_message_id][1], DispatchAttempted).attempt == 2
        (last,) = by_id[sms.ext_message_id]
        failed = payload_of(last, DispatchFailed)
        assert failed.reason == "outcome_unknown" and failed.retryable is False
        assert list(generic.delivered) == [str(viber.ext_message_id)]
        assert twilio.delivered == {str(waiting.ext_message_id): 1}
        assert by_id[waiting.ext_message_id][-1].type == EventType.DISPATCH_SUCCEEDED
        row = await ledger.get(sms.ext_message_id)
        assert row is not None and row.state == "failed"
    finally:
        await pool.close()
