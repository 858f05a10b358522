"""VERP envelope senders: they name the message and no one, only we can make them, and the
SMTP provider uses them only when configured."""

from __future__ import annotations

import uuid

import pytest

from services.dispatch.email_message import EmailComposer
from services.dispatch.providers import Outbound
from services.dispatch.providers.smtp import SmtpPool, SmtpProvider
from shared.domain import Channel
from shared.events import MessageContent
from shared.settings import SettingsError
from shared.verp import BounceAddresses, Verp

KEY = b"k" * 32
VERP = Verp("bounces.example", KEY)


def test_an_address_names_its_message_short_and_case_insensitively() -> None:
    mid = uuid.uuid4()
    address = VERP.address(mid)
    local, _, domain = address.partition("@")
    assert domain == "bounces.example" and len(local) <= 64
    assert VERP.message_of(address) == mid
    assert VERP.message_of(address.upper()) == mid
    assert VERP.message_of(f"<{address}>") == mid


@pytest.mark.parametrize(
    "mangle",
    [
        lambda a: a.replace("@bounces.example", "@elsewhere.example"),
        lambda a: a[:10] + ("a" if a[10] != "a" else "b") + a[11:],  # the message changed
        lambda a: a[:-20] + ("a" if a[-20] != "a" else "b") + a[-19:],  # the tag changed
        lambda a: a.replace("b-", "c-", 1),
        lambda a: "postmaster@bounces.example",
        lambda a: "b-" + "!" * 43 + "@bounces.example",
        lambda a: "",
        # Found by the fuzzer: a non-ASCII tag of the right length made compare_digest raise.
        lambda a: a[:-24] + "\u0102" + a[-23:],
    ],
)
def test_nothing_we_did_not_mint_is_accepted(mangle) -> None:
    assert VERP.message_of(mangle(VERP.address(uuid.uuid4()))) is None


def test_a_previous_key_still_opens_during_a_rotation() -> None:
    mid = uuid.uuid4()
    old = Verp("bounces.example", b"o" * 32).address(mid)
    assert VERP.message_of(old) is None
    assert Verp("bounces.example", KEY, (b"o" * 32,)).message_of(old) == mid


def test_the_settings_group_is_off_without_domain_and_key() -> None:
    local = {"BLINDPOST_ENV": "local"}
    assert BounceAddresses.from_env(local).verp() is None
    with pytest.raises(SettingsError, match="BLINDPOST_BOUNCE_KEY"):
        BounceAddresses.from_env(local).require()
    with pytest.raises(SettingsError, match="BLINDPOST_BOUNCE_KEY"):
        BounceAddresses.from_env(
            {"BLINDPOST_BOUNCE_DOMAIN": "b.example", "BLINDPOST_BOUNCE_KEY": "short"}
        )


def _outbound() -> Outbound:
    return Outbound(
        uuid.uuid4(),
        Channel.EMAIL,
        "player-7",
        "uid-7",
        "player7@example.org",
        MessageContent(subject="s", body="<p>b</p>", from_email_address="C <from@casino.example>"),
        attempt=1,
    )


@pytest.mark.parametrize("verp", [None, VERP])
def test_the_envelope_sender_is_the_verp_address_when_configured(verp: Verp | None) -> None:
    provider = SmtpProvider(
        SmtpPool(host="127.0.0.1", port=1),
        composer=EmailComposer("d@blindpost.test", "mid.test", None),
        verp=verp,
    )
    message = _outbound()
    sender, data, _mid = provider.render(message)
    if verp is None:
        assert sender == "from@casino.example"
    else:
        assert verp.message_of(sender) == message.ext_message_id
    assert b"From: C <from@casino.example>" in data  # the header is untouched
