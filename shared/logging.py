"""Structured JSON logs (structlog) with PII redaction as the last line of defence.

Code never logs an address on purpose; the redaction processor catches the accident: any
value shaped like an e-mail address (internationalised ones included: ``müller@münchen.de``)
or a phone number (international, or in a national format such as ``030 1234 5678``), at
any depth, is replaced before the line is rendered.  An exception is logged as its type and
frames, never its message, which may quote the input (a parser's "unexpected 'bob@…'").
Standard-library loggers (aiokafka, aiohttp) are routed through the same processors.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Mapping, MutableMapping
from types import TracebackType
from typing import Any, TextIO, cast

import structlog

# Any script: RFC 6531 local parts and IDN domains (or their punycode, xn--...).  Parts are
# runs of anything but spaces and the characters that delimit an address in text, rather
# than ``\w``, which misses the combining marks of Devanagari, Thai and others.
_ADDRESS_CHAR = r"""[^\s@<>()\[\]\\,;:"'`]"""
_LABEL_CHAR = r"""[^\s@<>()\[\]\\,;:"'`.]"""
EMAIL_PATTERN = re.compile(f"{_ADDRESS_CHAR}+@{_LABEL_CHAR}+(?:\\.{_LABEL_CHAR}+)+")
# E.164 and its usual spellings: "+" or "00", then 7-15 digits (of any script) with
# optional separators.
PHONE_PATTERN = re.compile(r"(?<![\w])(?:\+|00)(?!0)\d(?:[\s().-]?\d){6,14}(?!\d)")
# National formats: a trunk 0 or a parenthesised area code, then groups of digits
# (030 12345678, 07700 900123, 06 12 34 56 78, (555) 123-4567), or the North American
# 555-123-4567.  Never inside a word, an id or a date (the look-arounds), and 8-13 digits
# in all (NATIONAL_DIGITS), so offsets, floats, UUIDs and timestamps are left alone.
_ZERO = "[0\u0660\u06f0\u0966\u09e6\u0e50\uff10]"  # a trunk 0 in common digit scripts
NATIONAL_PHONE_PATTERN = re.compile(
    r"(?<![\w.+:/-])(?:(?:\(\d{2,5}\)|" + _ZERO + r"\d{1,5})(?:[ ./-]?\d{2,5}){1,5}"
    r"|\d{3}[ .-]\d{3}[ .-]\d{4})(?![\w]|[.:/-]\w)"
)
NATIONAL_DIGITS = range(8, 14)
EMAIL_MASK = "[email redacted]"
PHONE_MASK = "[phone redacted]"


def _national(match: re.Match[str]) -> str:
    digits = sum(char.isdigit() for char in match.group())
    return PHONE_MASK if digits in NATIONAL_DIGITS else match.group()


def redact_text(text: str) -> str:
    text = EMAIL_PATTERN.sub(EMAIL_MASK, text)
    text = PHONE_PATTERN.sub(PHONE_MASK, text)
    return NATIONAL_PHONE_PATTERN.sub(_national, text)


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return redact_text(value.decode("utf-8", "replace"))
    if isinstance(value, BaseException):
        return type(value).__name__  # its message may quote the input
    return value


def redact_pii(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """structlog processor: redact every value, nested ones included."""
    return {key: redact_value(value) for key, value in event_dict.items()}


def exception_text(exc: BaseException) -> str:
    """The exception's type and frames, and those of its causes; never a message."""
    blocks: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_list(traceback.extract_tb(current.__traceback__)))
        kind = type(current)
        blocks.append(
            f"Traceback (most recent call last):\n{frames}"
            f"{kind.__module__}.{kind.__qualname__} (message withheld)"
        )
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return "\n\nwhich was raised while handling:\n".join(blocks)


def format_exception_without_message(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor, in place of ``format_exc_info``: ``exc_info`` (an exception, a
    ``sys.exc_info()`` tuple or True) becomes ``exception``, type and frames only."""
    exc = _exception_of(event_dict.pop("exc_info", None))
    if exc is not None:
        event_dict["exception"] = exception_text(exc)
    return event_dict


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        exc: BaseException | None = exc_info[1]
        tb: TracebackType | None = exc_info[2]
        if exc is not None and exc.__traceback__ is None:
            exc = exc.with_traceback(tb)
        return exc
    if exc_info:
        return sys.exc_info()[1]
    return None


def configure_logging(
    service: str, level: str = "INFO", fmt: str = "json", stream: str = "stdout"
) -> None:
    """``stream``: ``stdout`` for services (their logs are their output); ``stderr`` for
    operator commands, whose stdout is a report another program may parse."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service),
        format_exception_without_message,
        structlog.processors.UnicodeDecoder(),
    ]
    structlog.configure(
        processors=[*shared, redact_pii, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # No file bound: each line goes to whatever sys.stdout is when it is written (test
        # runners swap it, and a stream bound at configuration time may be closed later).
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _CurrentStream(stream))),
        cache_logger_on_first_use=False,
    )
    handler = _CurrentStreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact_pii,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if level.upper() == "INFO" else level.upper())


class _CurrentStream:
    """Writes to whatever ``sys.<name>`` is at the moment of writing."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        return int(getattr(sys, self.name).write(text))

    def flush(self) -> None:
        getattr(sys, self.name).flush()


class _CurrentStreamHandler(logging.StreamHandler):
    """A stream handler that writes to the current ``sys.stdout`` (or stderr), for the same
    reason."""

    def __init__(self, name: str) -> None:
        self._stream_name = name
        super().__init__()

    @property
    def stream(self) -> Any:
        return getattr(sys, self._stream_name)

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _add_service(service: str) -> Any:
    def processor(
        _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return processor


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
