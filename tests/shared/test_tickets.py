"""Resolution tickets without I/O: what a ticket admits, and why one does not."""

from __future__ import annotations

import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.domain import Channel
from shared.env_settings import SettingsError
from shared.tickets import (
    TicketRefusal,
    TicketSigner,
    TicketSubject,
    TicketVerifier,
    generate_keypair,
)

NOW = 1_800_000_000.0
SUBJECT = TicketSubject(uuid.uuid4(), "player-7", Channel.SMS)


def _pair(ttl_s: float = 60.0) -> tuple[TicketSigner, TicketVerifier]:
    signer = TicketSigner(Ed25519PrivateKey.generate(), ttl_s)
    return signer, TicketVerifier.parse([signer.public_key_text()], "KEYS")


def test_a_ticket_admits_its_own_read_until_it_expires() -> None:
    signer, verifier = _pair(ttl_s=60)
    ticket = signer.issue(SUBJECT, now=NOW)
    assert verifier.refusal(ticket, SUBJECT, now=NOW + 59) is None
    assert verifier.refusal(ticket, SUBJECT, now=NOW + 60) is TicketRefusal.EXPIRED
    assert "player-7" not in ticket  # the request names the player; the ticket does not


@pytest.mark.parametrize(
    "other",
    [
        TicketSubject(uuid.uuid4(), SUBJECT.ext_user_id, SUBJECT.channel),
        TicketSubject(SUBJECT.ext_message_id, "player-8", SUBJECT.channel),
        TicketSubject(SUBJECT.ext_message_id, SUBJECT.ext_user_id, Channel.EMAIL),
    ],
    ids=["another message", "another player", "another channel"],
)
def test_a_ticket_admits_nothing_else(other: TicketSubject) -> None:
    signer, verifier = _pair()
    ticket = signer.issue(SUBJECT, now=NOW)
    assert verifier.refusal(ticket, other, now=NOW) is TicketRefusal.INVALID_SIGNATURE


def test_a_longer_expiry_written_into_a_ticket_is_a_forgery() -> None:
    signer, verifier = _pair(ttl_s=60)
    version, key_id, expires, signature = signer.issue(SUBJECT, now=NOW).split(".")
    stretched = f"{version}.{key_id}.{int(expires) + 86400}.{signature}"
    later = NOW + 3600
    assert verifier.refusal(stretched, SUBJECT, now=later) is TicketRefusal.INVALID_SIGNATURE


@pytest.mark.parametrize(
    ("ticket", "refusal"),
    [
        (None, TicketRefusal.MISSING),
        ("", TicketRefusal.MISSING),
        ("v1.abc", TicketRefusal.MALFORMED),
        ("v2.a.1.AAAA", TicketRefusal.MALFORMED),
        ("v1.a.soon.AAAA", TicketRefusal.MALFORMED),
        ("v1." + "a" * 300 + ".1.AAAA", TicketRefusal.MALFORMED),
        ("v1.0000000000000000.1900000000.AAAA", TicketRefusal.UNKNOWN_KEY),
    ],
)
def test_what_is_not_a_ticket(ticket: str | None, refusal: TicketRefusal) -> None:
    _, verifier = _pair()
    assert verifier.refusal(ticket, SUBJECT, now=NOW) is refusal


def test_every_configured_public_key_is_trusted_while_the_signing_key_changes() -> None:
    old, new = _pair()[0], _pair()[0]
    verifier = TicketVerifier.parse([old.public_key_text(), new.public_key_text()], "KEYS")
    for signer in (old, new):
        assert verifier.refusal(signer.issue(SUBJECT, now=NOW), SUBJECT, now=NOW) is None


def test_bad_key_settings_name_the_variable_never_the_value() -> None:
    with pytest.raises(SettingsError, match="^BLINDPOST_VAULT_TICKET_PUBLIC_KEYS: required"):
        TicketVerifier.parse([], "BLINDPOST_VAULT_TICKET_PUBLIC_KEYS")
    with pytest.raises(SettingsError, match="key 1 is not an Ed25519 public key") as caught:
        TicketVerifier.parse(["secret-looking-junk"], "BLINDPOST_VAULT_TICKET_PUBLIC_KEYS")
    assert "secret-looking-junk" not in str(caught.value)
    with pytest.raises(SettingsError, match="^BLINDPOST_INTAKE_TICKET_SIGNING_KEY: an Ed25519"):
        TicketSigner.from_setting("too-short", 60, "BLINDPOST_INTAKE_TICKET_SIGNING_KEY")


def test_a_generated_key_pair_signs_and_verifies() -> None:
    private, public = generate_keypair()
    signer = TicketSigner.from_setting(private, 60, "SIGNING")
    verifier = TicketVerifier.parse([public], "PUBLIC")
    assert verifier.refusal(signer.issue(SUBJECT, now=NOW), SUBJECT, now=NOW) is None
