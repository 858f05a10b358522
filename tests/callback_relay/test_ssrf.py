"""SSRF matrix: none of these callback URLs is ever called, by the guard alone and through
the running relay (a victim server records anything that reaches it)."""

from __future__ import annotations

import json

import pytest

from services.callback_relay.ssrf import CallbackGuard, CallbackRefused
from shared.domain import Channel, SmarticoStatus
from shared.events import CallbackAttempted, Event, EventType
from tests.callback_relay import support
from tests.support.events import payload_of
from tests.support.kafka import read_topic

# A resolver for tests: the names a hostile DNS would answer with private addresses.
FAKE_DNS = {
    "rebind.example": ["127.0.0.1"],
    "intranet.example": ["10.1.2.3"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["93.184.216.34", "192.168.1.10"],
    "v6local.example": ["::1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "cgnat.example": ["100.64.0.9"],
    "public.example": ["93.184.216.34"],
    "localhost": ["127.0.0.1"],
}


async def fake_resolve(host: str, port: int) -> list[str]:
    try:
        return FAKE_DNS[host]
    except KeyError:
        raise OSError("NXDOMAIN") from None


def hostile_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/cb",  # loopback, not listed with this port
        f"http://2130706433:{port}/cb",  # decimal 127.0.0.1
        f"http://0177.0.0.1:{port}/cb",  # octal
        f"http://0x7f.0.0.1:{port}/cb",  # hex
        f"http://127.1:{port}/cb",  # short form
        f"http://[::ffff:127.0.0.1]:{port}/cb",  # IPv4-mapped IPv6
        f"http://[::1]:{port}/cb",
        f"http://169.254.169.254:{port}/latest/meta-data",  # link-local / cloud metadata
        f"http://10.0.0.1:{port}/cb",
        f"http://192.168.0.1:{port}/cb",
        f"http://172.16.5.4:{port}/cb",
        f"http://rebind.example:{port}/cb",  # DNS name -> loopback
        f"http://intranet.example:{port}/cb",
        f"http://metadata.example:{port}/cb",
        f"http://mixed.example:{port}/cb",  # one private answer is enough to refuse
        f"http://v6local.example:{port}/cb",
        f"http://mapped.example:{port}/cb",
        f"http://cgnat.example:{port}/cb",
        f"http://localhost:{port}/cb",
        f"http://unlisted.example:{port}/cb",
        f"http://user:pw@public.example:{port}/cb",
        f"ftp://public.example:{port}/cb",
        "file:///etc/passwd",
        "not a url",
    ]


def listed(port: int) -> list[str]:
    """Hostile hosts are on the allow-list themselves, so the address check must stop them
    (plain private IPs are left off: an exactly listed private address is callable, which
    is how http://127.0.0.1:9900 works locally).  Listed for plain http, the scheme of the
    hostile URLs, so that only the address check stands between them and a call."""
    return [
        f"http://{host}:{port}"
        for host in [
            "2130706433",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "127.1",
            "[::ffff:127.0.0.1]",
            "169.254.169.254",
            "rebind.example",
            "intranet.example",
            "metadata.example",
            "mixed.example",
            "v6local.example",
            "mapped.example",
            "cgnat.example",
            "localhost",
        ]
    ] + ["public.example"]


@pytest.mark.parametrize("url", hostile_urls(9900))
async def test_guard_refuses(url: str) -> None:
    guard = CallbackGuard(listed(9900), fake_resolve)
    with pytest.raises(CallbackRefused):
        await guard.check(url)


async def test_guard_admits_listed_public_names_and_exactly_listed_private_addresses() -> None:
    guard = CallbackGuard(
        ["public.example", "http://127.0.0.1:9900", "http://localhost:9900"], fake_resolve
    )
    target = await guard.check("https://public.example/cb?x=1")
    assert target.addresses == ("93.184.216.34",) and target.port == 443
    assert (await guard.check("http://127.0.0.1:9900/cb")).addresses == ("127.0.0.1",)
    # localhost is listed and its address is listed with this port: allowed.
    assert (await guard.check("http://localhost:9900/cb")).addresses == ("127.0.0.1",)
    # The same address on another port is not.
    with pytest.raises(CallbackRefused):
        await guard.check("http://127.0.0.1:9901/cb")
    with pytest.raises(CallbackRefused):
        await guard.check("http://localhost:9901/cb")


async def test_pinned_resolver_answers_only_validated_addresses() -> None:
    from services.callback_relay.ssrf import PinnedResolver

    guard = CallbackGuard(["public.example"], fake_resolve)
    resolver = PinnedResolver(guard)
    with pytest.raises(OSError):
        await resolver.resolve("public.example", 443)  # not validated yet: no DNS of its own
    await guard.check("https://public.example/cb")
    FAKE_DNS["public.example"] = ["127.0.0.1"]  # DNS rebinding after the check
    try:
        answers = await resolver.resolve("public.example", 443)
    finally:
        FAKE_DNS["public.example"] = ["93.184.216.34"]
    assert [a["host"] for a in answers] == ["93.184.216.34"]


@pytest.mark.slow
async def test_the_running_relay_never_calls_a_hostile_url_nor_follows_a_redirect(
    kafka_bootstrap, topics, base_env, events_dsn
) -> None:
    victim = support.Smartico()
    await victim.start()
    async with support.smartico("redirect") as redirector, support.smartico() as witness:
        redirector.redirect_to = f"http://127.0.0.1:{victim.port}/stolen"
        urls = hostile_urls(victim.port)
        events = []
        for url in urls:
            events += support.lifecycle(Channel.EMAIL, url, [])[1]
        redirect_mid, redirect_events = support.lifecycle(Channel.EMAIL, redirector.url, [])
        allow = ",".join(
            [
                *listed(victim.port),
                f"http://127.0.0.1:{redirector.port}",
                f"http://127.0.0.1:{witness.port}",
            ]
        )
        env = support.relay_env(base_env, events_dsn, allow, BLINDPOST_CALLBACK_RETRY_PERIOD_S="3")
        async with support.running_relay(env, fake_resolve):
            await support.publish(kafka_bootstrap, topics, events + redirect_events)
            dead = await read_topic(
                kafka_bootstrap, topics.callbacks_dead_letter, expect=len(urls) + 1, timeout_s=25
            )
            await support.relay_caught_up(kafka_bootstrap, topics, witness)
    await victim.stop()

    assert victim.requests == []
    assert len(redirector.requests) >= 2  # retried, never followed
    records = [json.loads(r.value) for r in dead]
    assert len(records) == len(urls) + 1
    refused = [r for r in records if r["reason"].startswith("refused")]
    assert len(refused) == len(urls)
    (redirected,) = [r for r in records if r["ext_message_id"] == str(redirect_mid)]
    assert "http 302" in redirected["reason"]
    # Lifecycles (2 each), refused attempts, 2+ redirect attempts, dead-letter events.
    n = len(urls)
    everything = await read_topic(
        kafka_bootstrap, topics.message_events, expect=2 * (n + 1) + n + 2 + (n + 1), timeout_s=20
    )
    log = [Event.from_bytes(r.value) for r in everything]
    refused_attempts = [
        e
        for e in log
        if e.type is EventType.CALLBACK_ATTEMPTED
        and payload_of(e, CallbackAttempted).outcome == "refused"
    ]
    assert len(refused_attempts) == len(urls)
    assert all(
        payload_of(e, CallbackAttempted).status == SmarticoStatus.ACCEPTED
        for e in refused_attempts
    )


async def test_a_name_that_turns_private_is_refused_and_unpinned() -> None:
    from services.callback_relay.ssrf import PinnedResolver

    answers = {"flip.example": ["93.184.216.34"]}

    async def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    guard = CallbackGuard(["flip.example"], resolve, cache_ttl_s=0)
    await guard.check("https://flip.example/a")
    answers["flip.example"] = ["10.0.0.7"]  # DNS rebinding once the TTL ran out
    with pytest.raises(CallbackRefused):
        await guard.check("https://flip.example/b")
    with pytest.raises(OSError):
        await PinnedResolver(guard).resolve("flip.example", 443)
