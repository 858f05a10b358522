"""Item 10 of #16: redaction recognises internationalised addresses and national-format
phone numbers, and an exception is logged as its type and frames, never its message (which
may quote the input)."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from shared.logging import configure_logging, redact_text, redact_value

ADDRESSES = [
    "müller@münchen.de",
    "JÖRG.Groß@straße.example",
    "пользователь@пример.рф",
    "用户@例子.广告",
    "δοκιμή@παράδειγμα.δοκιμή",
    "θσερ+tag@xn--mnchen-3ya.de",
    "संपर्क@डाटामेल.भारत",
]
PHONES = [
    "030 12345678",  # Berlin, trunk 0
    "0151 23456789",  # German mobile
    "07700 900123",  # UK mobile
    "06 12 34 56 78",  # France
    "06.12.34.56.78",
    "(555) 123-4567",  # North America
    "555-123-4567",
    "+٩٧١ ٥٠ ١٢٣ ٤٥٦٧",  # UAE, Arabic-Indic digits
    "０３０１２３４５６７８",  # fullwidth digits
    "+44 7911 123456",
]
KEPT = [
    "a540f662-45b3-11ee-be56-0242ac120002",
    "01234567-89ab-cdef-0123-456789abcdef",
    "2026-11-28T08:52:09.123456+00:00",
    "offset 123456789012",
    "took 0.123456789 s",
    "broker 127.0.0.1:9092",
    "partition 0 offset 0012345",
    "hhu234556",
    "version 3.11.10",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_internationalised_addresses_are_redacted(address: str) -> None:
    assert redact_text(f"recipient {address}, kept") == "recipient [email redacted], kept"


@pytest.mark.parametrize("phone", PHONES)
def test_national_and_non_latin_numbers_are_redacted(phone: str) -> None:
    assert redact_text(f"to {phone} now") == "to [phone redacted] now"


@pytest.mark.parametrize("text", KEPT)
def test_ids_times_offsets_and_addresses_of_machines_are_left_alone(text: str) -> None:
    assert redact_text(text) == text


class ParseError(ValueError):
    pass


def parse(body: str) -> None:
    raise ParseError(f"unexpected {body!r} at column 4")


def test_an_exception_is_logged_as_type_and_frames_never_its_message(capsys) -> None:
    configure_logging("test-service")
    quoted = "the-request-said-ünïcode-secret"
    try:
        try:
            parse(quoted)
        except ParseError as inner:
            raise RuntimeError(f"while parsing {quoted}") from inner
    except RuntimeError as exc:
        structlog.get_logger().error("internal error", exc_info=exc, error=exc)
        try:
            parse(quoted)
        except ParseError:
            logging.getLogger("aiohttp.server").exception("Error handling request")
    lines = capsys.readouterr().out.strip().splitlines()
    assert quoted not in "\n".join(lines)
    ours, theirs = (json.loads(line) for line in lines[-2:])
    assert ours["error"] == "RuntimeError"
    for record in (ours, theirs):
        assert "ParseError (message withheld)" in record["exception"]
        assert "in parse" in record["exception"]  # the frames are there to debug with
    assert "RuntimeError (message withheld)" in ours["exception"]


def test_nested_values_with_international_data_are_redacted() -> None:
    event = {"note": ["für müller@münchen.de", {"tel": "030 12345678"}], "count": 3}
    assert json.dumps(redact_value(event), ensure_ascii=False) == (
        '{"note": ["für [email redacted]", {"tel": "[phone redacted]"}], "count": 3}'
    )
