"""Our mail transaction (``smtp_transaction.send_one``) is aiosmtplib's ``sendmail`` for one
recipient: the same addresses on the wire, the same SIZE, the same refusals raised and the
envelope reset after them, checked side by side against a real aiosmtpd server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiosmtplib
import pytest
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import normalize_message_line_endings
from hypothesis import given
from hypothesis import strategies as st

from services.dispatch.providers.smtp_transaction import (
    PLAIN_ADDRESS,
    quoted,
    send_one,
    transmitted_length,
)
from tests.dispatch.support import smtp_server

ADDRESSES = [
    "player@bench.example",
    "zelda.quartermaine-7731@example-players.test",
    "b-gezdgnbvgy3tqojqgezdgnbvgy-aaaabbbbccccdddd@bounces.blindpost.local",
    "O'Brien+promo@Example.COM",
    "a!#$%&'*+/=?^_`{|}~-@example.test",
    "a..b@example.test",
    ".a@example.test",
    "a.@example.test",
    "x@example.test.",
    "x@-example.test",
    "x@[127.0.0.1]",
    "Player <player@example.test>",
    '"two words"@example.test',
    "two words@example.test",
    "x@example.test>, <y@example.test",
    "x@example.test\r\nRCPT TO:<y@example.test>",
    "üser@example.test",
    "no-at-sign",
    "",
]


def _outcome(quote: Callable[[str], bytes], address: str) -> bytes | type[Exception]:
    try:
        return quote(address)
    except ValueError as exc:  # UnicodeEncodeError too
        return type(exc)


@pytest.mark.parametrize("address", ADDRESSES)
def test_an_address_is_quoted_or_refused_as_aiosmtplib_does(address: str) -> None:
    def theirs(a: str) -> bytes:
        return quote_address(a).encode("ascii")

    assert _outcome(quoted, address) == _outcome(theirs, address)


@given(st.from_regex(PLAIN_ADDRESS, fullmatch=True))
def test_a_plain_address_is_what_aiosmtplib_would_send(address: str) -> None:
    assert quoted(address) == quote_address(address).encode("ascii")


@pytest.mark.parametrize(
    "message",
    [b"", b"a", b"a\r\n", b"a\r\nb", b"a\nb\n", b"a\rb\r\n", b"a\r\r\nb", b"\r\n.\r\n", b"x\n\r"],
)
def test_size_counts_the_message_as_data_transmits_it(message: bytes) -> None:
    assert transmitted_length(message) == len(normalize_message_line_endings(message))


@dataclass
class Scripted:
    """A real aiosmtpd handler: logs what each command carried, refuses as told."""

    refuse: dict[str, str]
    log: list[tuple[Any, ...]] = field(default_factory=list)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.log.append(("MAIL", address, options))
        if address in self.refuse:
            return self.refuse[address]
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.log.append(("RCPT", address, options))
        if address in self.refuse and not address.startswith("data-"):
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        self.log.append(("RSET",))
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.log.append(("DATA", envelope.original_content))
        if envelope.rcpt_tos[0] in self.refuse:
            return self.refuse[envelope.rcpt_tos[0]]
        return "250 2.0.0 queued as 42"


MESSAGE = b"Subject: hi\r\n\r\nline one\r\n.dot line\r\nlast"
TRANSACTIONS = [  # (sender, recipient): the first greets, the rest go our own way
    ("news@casino.example", "first@example.test"),
    ("b-abc-def@bounces.example", "second@example.test"),
    ("refused@casino.example", "third@example.test"),
    ("news@casino.example", "nobody@example.test"),
    ("news@casino.example", "greylisted@example.test"),
    ("news@casino.example", "data-refused@example.test"),
    ("Casino <news@casino.example>", "Player <player@example.test>"),
    ("news@casino.example", "bad address@example.test"),
    ("news@casino.example", "last@example.test"),
]
REFUSALS = {
    "refused@casino.example": "451 4.3.0 try later",
    "nobody@example.test": "550 5.1.1 no such user",
    "greylisted@example.test": "450 4.2.0 greylisted",
    "data-refused@example.test": "554 5.7.1 rejected",
}

Send = Callable[[aiosmtplib.SMTP, str, str, bytes], Awaitable[str]]


async def _theirs(client: aiosmtplib.SMTP, sender: str, recipient: str, message: bytes) -> str:
    _errors, reply = await client.sendmail(sender, [recipient], message)
    return reply


async def _session(send: Send) -> tuple[list[tuple[Any, ...]], list[object]]:
    handler = Scripted(dict(REFUSALS))
    server, port = await smtp_server(handler)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    outcomes: list[object] = []
    try:
        await client.connect()
        for sender, recipient in TRANSACTIONS:
            try:
                outcomes.append(await send(client, sender, recipient, MESSAGE))
            except aiosmtplib.SMTPRecipientsRefused as exc:
                refused = exc.recipients[0]
                outcomes.append(("recipients refused", refused.code, refused.recipient))
            except aiosmtplib.SMTPResponseException as exc:
                outcomes.append((type(exc).__name__, exc.code))
            except ValueError as exc:
                outcomes.append(type(exc).__name__)
        await client.quit()
    finally:
        server.close()
    return handler.log, outcomes


async def test_a_transaction_says_and_raises_what_sendmail_does() -> None:
    their_log, their_outcomes = await _session(_theirs)
    our_log, our_outcomes = await _session(send_one)
    assert our_log == their_log
    assert our_outcomes == their_outcomes
    # The script did what it says: refusals at MAIL, RCPT and DATA, each followed by a
    # reset, and mail accepted before and after them on the same connection.
    assert ("MAIL", "b-abc-def@bounces.example", [f"SIZE={len(MESSAGE) + 2}"]) in our_log
    assert our_log.count(("RSET",)) == 4
    assert our_outcomes[0] == our_outcomes[-1] == "2.0.0 queued as 42"
    assert our_outcomes[2] == ("SMTPSenderRefused", 451)
    assert our_outcomes[3] == ("recipients refused", 550, "nobody@example.test")
    assert our_outcomes[5] == ("SMTPDataError", 554)
    assert our_outcomes[7] == "ValueError"
