"""The resolver against the real vault and the real broker: each accepted message becomes
sealed dispatch work plus RecipientResolved, or RecipientResolutionFailed; a vault outage delays
messages but never drops them."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg
from aiohttp.test_utils import TestServer
from prometheus_client import REGISTRY

from services.callback_relay.domain import status_from
from services.resolver.app import create_app
from services.resolver.settings import ResolverSettings
from shared.domain import Channel, ChannelFamily, SmarticoStatus, event_id_for
from shared.events import Event, EventType, MessageAccepted, RecipientResolutionFailed
from shared.kafka import start_producer
from shared.sealing import SealingKeyring
from shared.work import DispatchWork
from tests.support import events as build
from tests.support.events import payload_of
from tests.support.kafka import read_topic
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.vault.support import accepted_event, audit_rows, running_vault


@asynccontextmanager
async def running_resolver(env: dict[str, str], vault_url: str) -> AsyncIterator[TestServer]:
    settings = ResolverSettings.from_env({**env, "BLINDPOST_VAULT_URL": vault_url})
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


async def produce(
    bootstrap: str, topic: str, events: list[Event], raw: Sequence[bytes] = ()
) -> None:
    producer = await start_producer(bootstrap)
    try:
        for event in events:
            await producer.send_and_wait(topic, event.to_bytes(), key=event.key)
        for value in raw:
            await producer.send_and_wait(topic, value, key=b"poison")
    finally:
        await producer.stop()


def _resolver_retries() -> float:
    sample = REGISTRY.get_sample_value("blindpost_stage_batch_retries_total", {"stage": "resolver"})
    return sample or 0.0


def keyring(env: dict[str, str], family: ChannelFamily) -> SealingKeyring:
    return SealingKeyring.parse([env[f"BLINDPOST_SEAL_PRIVATE_KEYS_{family.value.upper()}"]])


async def test_each_accepted_message_is_resolved_or_fails_with_the_reason(
    vault, vault_env, kafka_bootstrap, topics
):
    await vault.put("u-mail", {"email": "rosalind.quill@example.org", "locale": "pt-BR"})
    await vault.put("u-phone", {"phone": "+357 99 123456", "viber_id": "viber-abc"})
    await vault.put("u-opted", {"email": "opted.out@example.org", "opted_out": ["email"]})
    await vault.put("u-erased", {"email": "erased.person@example.org"})
    await vault.erase("u-erased")

    cases = {
        ("u-mail", Channel.EMAIL): "rosalind.quill@example.org",
        ("u-phone", Channel.SMS): "+35799123456",
        ("u-phone", Channel.VIBER): "viber-abc",
        ("u-phone", Channel.WHATSAPP): "+35799123456",
        ("u-mail", Channel.CIM): "u-mail",
    }
    failures = {
        ("nobody", Channel.EMAIL): "user_not_found",
        ("u-phone", Channel.EMAIL): "no_address",
        ("u-opted", Channel.EMAIL): "opted_out",
        ("u-erased", Channel.EMAIL): "erased",
    }
    events = {key: accepted_event(*key) for key in [*cases, *failures]}
    preview = accepted_event("u-mail", Channel.EMAIL, source="request")
    await produce(
        kafka_bootstrap, topics.message_events, [*events.values(), preview], raw=[b"{not json"]
    )

    async with running_resolver(vault_env, vault.base_url):
        work = [
            # Each channel's work on its own dispatcher's topic.
            *await read_topic(kafka_bootstrap, topics.dispatch(Channel.EMAIL), expect=1),
            *await read_topic(kafka_bootstrap, topics.dispatch(Channel.SMS), expect=1),
            *await read_topic(kafka_bootstrap, topics.dispatch(Channel.VIBER), expect=1),
            *await read_topic(kafka_bootstrap, topics.dispatch(Channel.WHATSAPP), expect=1),
            *await read_topic(kafka_bootstrap, topics.dispatch(Channel.CIM), expect=1),
        ]
        log = await read_topic(kafka_bootstrap, topics.message_events, expect=11 + 9)
        dead = await read_topic(kafka_bootstrap, topics.dead_letter, expect=1)

    items = [DispatchWork.from_bytes(record.value) for record in work]
    assert len(items) == len(cases)
    by_message = {item.ext_message_id: item for item in items}
    for key, address in cases.items():
        event = events[key]
        item = by_message[event.ext_message_id]
        opened = keyring(vault_env, item.channel.family).open(
            item.sealed_recipient, item.sealing_context()
        )
        assert opened.decode() == address
        accepted = payload_of(event, MessageAccepted)
        assert item.uid == accepted.uid and item.content.subject == "Hello"
    assert by_message[events[("u-mail", Channel.EMAIL)].ext_message_id].locale == "pt-BR"
    assert preview.ext_message_id not in by_message

    produced = [Event.from_bytes(r.value) for r in log if r.value != b"{not json"]
    resolved = {e.ext_message_id: e for e in produced if e.type is EventType.RECIPIENT_RESOLVED}
    failed = {e.ext_message_id: e for e in produced if e.type is EventType.RECIPIENT_RESOLUTION_FAILED}
    assert set(resolved) == {events[key].ext_message_id for key in cases}
    assert {m: payload_of(e, RecipientResolutionFailed).reason for m, e in failed.items()} == {
        events[key].ext_message_id: reason for key, reason in failures.items()
    }
    # Deterministic ids: a redo after a crash is recognised downstream and stored once.
    for mid, event in resolved.items():
        assert event.event_id == event_id_for(mid, EventType.RECIPIENT_RESOLVED.value)
    assert [r.value for r in dead] == [b"{not json"]


async def test_vault_outage_delays_messages_but_never_drops_them(
    vault_env, kafka_bootstrap, topics
):
    port = free_port()
    vault_url = f"http://127.0.0.1:{port}"
    event = accepted_event("u-late", Channel.SMS)
    async with running_vault(vault_env) as vault:  # the subject exists before the outage
        await vault.put("u-late", {"phone": "+49 1512 3456789"})
    await produce(kafka_bootstrap, topics.message_events, [event])

    retries_before = _resolver_retries()
    async with running_resolver(vault_env, vault_url):
        # The vault is down: the batch is tried, rolled back, and nothing is committed.
        await eventually(
            lambda: _resolver_retries() > retries_before,
            within=30,
            what="the resolver to try the vault and roll its batch back",
        )
        nothing = await read_topic(kafka_bootstrap, topics.dispatch(Channel.SMS), timeout_s=3)
        assert nothing == []
        async with running_vault(vault_env, port=port):
            work = await read_topic(
                kafka_bootstrap, topics.dispatch(Channel.SMS), expect=1, timeout_s=60
            )
    assert [DispatchWork.from_bytes(r.value).ext_message_id for r in work] == [event.ext_message_id]
    events = [
        Event.from_bytes(r.value)
        for r in await read_topic(kafka_bootstrap, topics.message_events, expect=2)
    ]
    assert Counter(e.type for e in events) == {
        EventType.MESSAGE_ACCEPTED: 1,
        EventType.RECIPIENT_RESOLVED: 1,
    }


async def test_a_burst_is_resolved_in_batches_each_read_audited_with_its_message(
    vault, vault_env, vault_dsn, kafka_bootstrap, topics
):
    for n in range(20):
        await vault.put(f"burst-{n}", {"email": f"burst.{n}@example.org"})
    events = [accepted_event(f"burst-{n % 20}", Channel.EMAIL) for n in range(300)]
    await produce(kafka_bootstrap, topics.message_events, events)
    async with running_resolver(vault_env, vault.base_url):
        work = await read_topic(
            kafka_bootstrap, topics.dispatch(Channel.EMAIL), expect=300, timeout_s=60
        )
    assert {DispatchWork.from_bytes(r.value).ext_message_id for r in work} == {
        e.ext_message_id for e in events
    }
    conn = await asyncpg.connect(vault_dsn)
    try:
        reads = await conn.fetch(
            "SELECT ext_message_id, request_id FROM audit_log WHERE decision = 'read'"
        )
    finally:
        await conn.close()
    assert sorted(str(r["ext_message_id"]) for r in reads) == sorted(
        str(e.ext_message_id) for e in events
    )
    assert len({r["request_id"] for r in reads}) < 300 / 10  # batched calls, not one per message


async def test_a_ciphertext_that_fails_its_check_ends_the_message_as_failed(
    vault, vault_env, vault_dsn, kafka_bootstrap, topics
):
    """Once dead-lettered (the message stayed accepted for ever and Smartico never heard
    of it), now a resolution failure with our reason, which the relay reports as failed."""
    await vault.put("tampered", {"email": "tampered@example.org"})
    await vault.put("fine", {"email": "fine@example.org"})
    conn = await asyncpg.connect(vault_dsn)
    try:
        await conn.execute(
            "UPDATE subjects SET email_ct = set_byte(email_ct, 29, get_byte(email_ct, 29) # 1) "
            "WHERE ext_user_id = 'tampered'"
        )
    finally:
        await conn.close()
    bad, good = accepted_event("tampered", Channel.EMAIL), accepted_event("fine", Channel.EMAIL)
    await produce(kafka_bootstrap, topics.message_events, [bad, good])
    async with running_resolver(vault_env, vault.base_url):
        work = await read_topic(kafka_bootstrap, topics.dispatch(Channel.EMAIL), expect=1)
        log = await read_topic(kafka_bootstrap, topics.message_events, expect=4)
    assert [DispatchWork.from_bytes(r.value).ext_message_id for r in work] == [good.ext_message_id]
    failed = [
        e for e in map(Event.from_bytes, (r.value for r in log))
        if e.type is EventType.RECIPIENT_RESOLUTION_FAILED
    ]
    assert [e.ext_message_id for e in failed] == [bad.ext_message_id]
    assert payload_of(failed[0], RecipientResolutionFailed).reason == "integrity_failure"
    assert status_from(failed[0]) is SmarticoStatus.FAILED  # the callback Smartico gets
    # A dead letter for it would be in the failure event's transaction, already read.
    assert await read_topic(kafka_bootstrap, topics.dead_letter, timeout_s=1) == []


async def test_a_duplicated_accepted_message_is_read_from_the_vault_once(
    vault, vault_env, vault_dsn, kafka_bootstrap, topics
):
    """A retried request that reached another intake replica publishes message.accepted
    twice: the vault is read once (one audit row), whether the copy arrives in a later batch
    or after a restart, and the message is dispatched once."""
    await vault.put("twice", {"email": "twice@example.org"})
    await vault.put("sentinel", {"email": "sentinel@example.org"})
    original = accepted_event("twice", Channel.EMAIL)
    # The copy another replica wrote: same message, same event id, its own record.
    copy = Event.create(
        original.ext_message_id,
        payload_of(original, MessageAccepted),
        "intake",
    )
    later, after_restart = (accepted_event("sentinel", Channel.EMAIL) for _ in range(2))
    email = topics.dispatch(Channel.EMAIL)

    await produce(kafka_bootstrap, topics.message_events, [original])
    async with running_resolver(vault_env, vault.base_url):
        await read_topic(kafka_bootstrap, email, expect=1)
        await produce(kafka_bootstrap, topics.message_events, [copy, later])
        await read_topic(kafka_bootstrap, email, expect=2)  # the later one: the copy is past
    await produce(kafka_bootstrap, topics.message_events, [copy, after_restart])
    async with running_resolver(vault_env, vault.base_url):
        work = await read_topic(kafka_bootstrap, email, expect=3)

    assert sorted(str(DispatchWork.from_bytes(r.value).ext_message_id) for r in work) == sorted(
        str(e.ext_message_id) for e in (original, later, after_restart)
    )
    conn = await asyncpg.connect(vault_dsn)
    try:
        reads = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE ext_message_id = $1 AND decision = 'read'",
            str(original.ext_message_id),
        )
    finally:
        await conn.close()
    assert reads == 1


async def test_a_message_without_a_valid_ticket_fails_with_our_reason_not_a_dead_letter(
    vault, vault_env, vault_dsn, kafka_bootstrap, topics
):
    """The vault refuses a read whose ticket is missing, late or another message's: the
    resolver ends the message ``failed`` with the ticket's reason, and the next goes on."""
    await vault.put("u-ticket", {"email": "ticket.holder@example.org"})
    unsigned = build.accepted(channel=Channel.EMAIL, ext_user_id="u-ticket", ticket=None)
    late = accepted_event("u-ticket", Channel.EMAIL, ticket_ttl_s=-60)
    # A genuine ticket, for another player: copied onto a message for this one.
    borrowed_from = accepted_event("u-other", Channel.EMAIL)
    borrowed = build.accepted(
        channel=Channel.EMAIL,
        ext_user_id="u-ticket",
        ticket=payload_of(borrowed_from, MessageAccepted).ticket,
    )
    good = accepted_event("u-ticket", Channel.EMAIL)
    await produce(kafka_bootstrap, topics.message_events, [unsigned, late, borrowed, good])
    async with running_resolver(vault_env, vault.base_url):
        work = await read_topic(kafka_bootstrap, topics.dispatch(Channel.EMAIL), expect=1)
        log = await read_topic(kafka_bootstrap, topics.message_events, expect=8)
    assert [DispatchWork.from_bytes(r.value).ext_message_id for r in work] == [good.ext_message_id]
    failed = {
        e.ext_message_id: e
        for e in map(Event.from_bytes, (r.value for r in log))
        if e.type is EventType.RECIPIENT_RESOLUTION_FAILED
    }
    assert {m: payload_of(e, RecipientResolutionFailed).reason for m, e in failed.items()} == {
        unsigned.ext_message_id: "ticket_invalid",
        late.ext_message_id: "ticket_expired",
        borrowed.ext_message_id: "ticket_invalid",
    }
    assert all(status_from(e) is SmarticoStatus.FAILED for e in failed.values())
    rows = await audit_rows(vault_dsn)
    refused = {r["ext_message_id"]: r["detail"] for r in rows if r["decision"] == "refused_ticket"}
    assert refused == {
        unsigned.ext_message_id: "email ticket missing",
        late.ext_message_id: "email ticket expired",
        borrowed.ext_message_id: "email ticket invalid_signature",
    }
    assert await read_topic(kafka_bootstrap, topics.dead_letter, timeout_s=1) == []
