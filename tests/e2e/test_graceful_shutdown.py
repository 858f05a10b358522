"""Graceful shutdown, service by service, under a steady stream of messages.

Every service of the gateway runs as a real process while Smartico's stand-in posts e-mails
and SMS without pause (retrying a uid on 6, 9 or a refused connection, as a careful client
does).  One after another, each service gets SIGTERM while work flows through it: it must
exit 0 within its shutdown timeout, and it is started again.  At the end every accepted
message was handed to the SMTP server or the SMS provider exactly once, and Smartico heard
``accepted`` for it exactly once: nothing lost, nothing sent twice.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections import Counter

import pytest

from tests.dispatch.support import RecordingSmtpHandler
from tests.support.gateway import outside_the_gateway, plan_gateway, service_processes
from tests.support.polling import eventually
from tests.support.smartico_stream import players_and_stream

SHUTDOWN_TIMEOUT_S = 8.0
# Interpreter exit and the last log lines, beyond the drain itself.
EXIT_SLACK_S = 4.0
SENDERS = 2  # each posting about 10 messages a second (support/smartico_stream.PAUSE_S)
# In the order a message meets them; intake last, so the stream's retries are exercised.
SERVICES = [
    "vault",
    "projector",
    "resolver",
    "dispatch-email",
    "dispatch-sms",
    "status-ingest",
    "callback-relay",
    "intake",
]


def mail_ids(mails: RecordingSmtpHandler) -> Counter[str]:
    """Mails received per ext_message_id (their Message-ID is derived from it)."""
    ids: Counter[str] = Counter()
    for _from, _to, data in mails.received:
        message = email.message_from_bytes(data, policy=email.policy.default)
        ids[str(message["Message-ID"]).strip("<>").split("@")[0]] += 1
    return ids


@pytest.mark.slow
# Eight processes are stopped and started again one after another (about 8 s each): the
# suite's default timeout is sized for tests of one service.
@pytest.mark.timeout(300)
async def test_every_service_stops_gracefully_on_sigterm_under_load(
    base_env, events_dsn, vault_dsn, tmp_path
):
    async with outside_the_gateway(base_env) as outside:
        mails, world = outside.mails, outside.world
        ports, env = plan_gateway(
            base_env,
            SERVICES,
            events_dsn,
            vault_dsn,
            world,
            outside.smtp_port,
            BLINDPOST_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_TIMEOUT_S),
        )
        processes = service_processes(SERVICES, env, ports, tmp_path)
        senders: list[asyncio.Task[None]] = []
        exit_codes: dict[str, int | None] = {}
        stop_seconds: dict[str, float] = {}
        began = time.monotonic()
        try:
            await asyncio.gather(*(p.start(timeout_s=60) for p in processes.values()))
            stream = await players_and_stream(ports, env, world)
            print(f"stack up in {time.monotonic() - began:.1f} s")
            senders = [asyncio.create_task(stream.run(sender)) for sender in range(SENDERS)]
            await eventually(
                lambda: len(stream.accepted) >= 20, within=60, what="the stream flowing"
            )

            for service in SERVICES:
                await eventually(
                    stream.flowing(more=10),
                    within=60,
                    what=f"messages flowing before {service} is stopped",
                )
                started = time.monotonic()
                exit_codes[service] = await processes[service].terminate(SHUTDOWN_TIMEOUT_S + 10)
                stop_seconds[service] = time.monotonic() - started
                await processes[service].start(timeout_s=60)
                print(
                    f"{service}: stopped in {stop_seconds[service]:.1f} s, exit "
                    f"{exit_codes[service]}, back after {time.monotonic() - started:.1f} s; "
                    f"{len(stream.accepted)} accepted so far"
                )

            stream.stopped.set()
            await asyncio.gather(*senders)
            accepted = dict(stream.accepted)

            by_family = {
                family: {mid for mid, f in accepted.items() if f == family}
                for family in ("email", "sms")
            }
            await eventually(
                lambda: set(mail_ids(mails)) >= by_family["email"],
                within=120,
                what="every accepted e-mail at the SMTP server",
            )
            await eventually(
                lambda: set(world.sms_keys) >= by_family["sms"],
                within=120,
                what="every accepted SMS at the provider",
            )

            def called_back() -> set[str]:
                return {c["ext_message_id"] for c in world.callbacks if c["status"] == "accepted"}

            await eventually(
                lambda: called_back() >= set(accepted),
                within=120,
                what="an accepted callback for every message",
                details=lambda: (
                    f"missing {sorted(set(accepted) - called_back())[:5]} of "
                    f"{len(set(accepted) - called_back())}\n"
                    + processes["callback-relay"].log_tail(60)
                ),
            )
        finally:
            for task in senders:
                task.cancel()
            for process in processes.values():
                process.kill()

    for service in SERVICES:
        log = processes[service].log_tail()
        assert exit_codes[service] == 0, f"{service} exited with {exit_codes[service]}:\n{log}"
        seconds = stop_seconds[service]
        assert seconds < SHUTDOWN_TIMEOUT_S + EXIT_SLACK_S, f"{service} took {seconds:.1f} s"
    sent_twice = {mid: n for mid, n in mail_ids(mails).items() if n > 1}
    assert not sent_twice, f"mails sent twice: {sent_twice}"
    sms_sends = Counter(world.sms_keys)
    assert not {key: n for key, n in sms_sends.items() if n > 1}, "an SMS was posted twice"
    accepted_callbacks = Counter(
        c["ext_message_id"] for c in world.callbacks if c["status"] == "accepted"
    )
    assert set(accepted_callbacks) == set(accepted)
    assert not {mid: n for mid, n in accepted_callbacks.items() if n > 1}, "a callback twice"
