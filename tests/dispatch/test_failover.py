"""Failover: a channel's providers in order (``BLINDPOST_SMS_PROVIDERS=twilio,generic``).
When the first one fails or its breaker is open, the next one sends; a dispatcher killed
with SIGKILL mid-stream and restarted still sends every message exactly once, counted
across both providers' servers."""

from __future__ import annotations

import pytest

from services.dispatch.delivery import Route
from services.dispatch.failover import Failover
from services.dispatch.guard import ProviderGuard
from services.dispatch.outcomes import (
    PermanentFailure,
    Sent,
    TransientFailure,
    http_failure,
    may_have_been_taken,
)
from services.dispatch.providers import Outbound, Redelivery
from shared.domain import Channel
from shared.events import DispatchSucceeded, EventType
from tests.dispatch.support import Served, TwilioServer, make_work, outcomes
from tests.dispatch.test_crash import (
    IdempotentProvider,
    phone,
    produce_until_killed,
    restart_until_all_dispatched,
)
from tests.support.events import payload_of
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

N = 300
TWILIO_TAKES = 40  # then it answers 503 to everything, for good


class Named:
    """A provider as far as the failover order sees one."""

    redelivery: Redelivery = "idempotency_key"

    def __init__(self, name: str) -> None:
        self.name = name

    async def send(self, message: Outbound) -> Sent:
        raise AssertionError("never called")

    async def close(self) -> None:
        pass


def routes(*names: str) -> list[Route]:
    guards = [
        ProviderGuard.create(
            f"sms:{n}", rate_per_s=0, concurrency=1, breaker_threshold=1, breaker_cooldown_s=60
        )
        for n in names
    ]
    return [Route(Named(n), g) for n, g in zip(names, guards, strict=True)]


def test_the_next_provider_with_a_closed_breaker_sends():
    twilio, vonage, generic = routes("twilio", "vonage", "generic")
    vonage.guard.breaker.record_transient_failure()  # open
    order = Failover([twilio, vonage, generic])
    assert order.route is twilio
    assert order.next_open() is generic
    assert order.next_open() is None  # none left


def test_a_pinned_message_stays_with_its_provider():
    twilio, generic = routes("twilio", "generic")
    order = Failover([twilio, generic])
    assert order.pin() is True
    assert order.next_open() is None
    resumed = Failover([twilio, generic], pinned_to="generic")
    assert resumed.route is generic and resumed.next_open() is None
    assert Failover([twilio], pinned_to="gone").route is twilio  # dropped from the settings
    assert Failover([twilio]).pin() is False  # nowhere else to go: nothing to record


def test_only_failures_that_show_the_provider_did_not_take_it_allow_failover():
    assert not may_have_been_taken(http_failure(503))
    assert not may_have_been_taken(http_failure(429))
    assert not may_have_been_taken(TransientFailure("connect_failed"))
    assert not may_have_been_taken(PermanentFailure("http_400"))
    for reason in ("timeout", "connection_error", "bad_response", "unexpected_error"):
        assert may_have_been_taken(TransientFailure(reason))


@pytest.mark.slow
async def test_failover_killed_mid_stream_sends_each_message_once_across_providers(
    dispatch_env, topics, keypair, kafka_bootstrap, tmp_path
):
    twilio, generic = TwilioServer(takes=TWILIO_TAKES), IdempotentProvider()
    port = free_port()
    async with Served(twilio.app()) as tw, Served(generic.app()) as gen:
        env = {
            **dispatch_env,
            "BLINDPOST_SMS_PROVIDERS": "twilio,generic",
            "BLINDPOST_TWILIO_ACCOUNT_SID": "AC1",
            "BLINDPOST_TWILIO_AUTH_TOKEN": "t",
            "BLINDPOST_TWILIO_BASE_URL": tw.url,
            "BLINDPOST_SMS_HTTP_URL": f"{gen.url}/sms",
            "BLINDPOST_DISPATCH_SMS_PORT": str(port),
            "BLINDPOST_DISPATCH_INLINE_RETRIES": "0",
            "BLINDPOST_DISPATCH_SEND_TIMEOUT_S": "2",
            "BLINDPOST_DISPATCH_MAX_BATCH": "40",
            # Twilio's breaker opens after a few 503s and stays open for the whole test: the
            # rest go straight to the generic provider, without a call to Twilio.
            "BLINDPOST_DISPATCH_BREAKER_THRESHOLD": "3",
            "BLINDPOST_DISPATCH_BREAKER_COOLDOWN_S": "600",
        }
        log_path = tmp_path / "dispatch-sms.log"
        process = await ServiceProcess("dispatch-sms", env, port, log_path).start()
        generic.kill = process.kill  # at its KILL_AT-th message, mid-call
        works = [
            make_work(Channel.SMS, phone(i), keypair[1], body=f"message {i}") for i in range(N)
        ]
        try:
            before = await produce_until_killed(process, kafka_bootstrap, topics, works)
            assert before and len(twilio.delivered) + len(generic.delivered) < N  # died mid-way
            events = await restart_until_all_dispatched(process, kafka_bootstrap, topics, works)
        finally:
            process.stop()

    # Exactly once across both: each message taken by one provider, once.
    everyone = {str(w.ext_message_id) for w in works}
    assert len(twilio.delivered) == TWILIO_TAKES and twilio.refused > 0
    assert max(twilio.delivered.values()) == 1
    assert not set(twilio.delivered) & set(generic.delivered)
    assert set(twilio.delivered) | set(generic.delivered) == everyone
    # A message the first run had reported sent was never sent again.
    repeated = {key for key, count in generic.requests.items() if count > 1}
    assert not repeated & {str(mid) for mid in before}
    # The event log says which provider took each, and says it once.
    by_id = outcomes(events)
    for work in works:
        final = [e for e in by_id[work.ext_message_id] if e.type == EventType.DISPATCH_SUCCEEDED]
        assert len({e.event_id for e in final}) == 1
        took = "twilio" if str(work.ext_message_id) in twilio.delivered else "generic"
        assert payload_of(final[0], DispatchSucceeded).provider == took
    everything = log_path.read_text() + "".join(e.model_dump_json() for e in events)
    for i in range(N):
        assert phone(i) not in everything and phone(i)[1:] not in everything
