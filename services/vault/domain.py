"""Subjects and contacts, with no I/O: validation and normalisation, which address a channel
needs, masking for admin reads, and the non-PII facts published for intake."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from shared.domain import Channel


class ContactField(StrEnum):
    """The encrypted contact fields of a subject (each bound to it by associated data)."""

    EMAIL = "email"
    PHONE = "phone"
    VIBER_ID = "viber_id"
    WHATSAPP_ID = "whatsapp_id"


CONTACT_FIELDS = tuple(ContactField)
MAX_ID_LENGTH = 256
MAX_CHANNEL_ID_LENGTH = 128


class InvalidContact(ValueError):
    """A value that cannot be stored.  ``field`` and ``reason`` never contain the value."""

    def __init__(self, field: str, reason: str, *, audited_as: str | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.audited_field = audited_as or field
        """What the audit log records: ``field`` when it is one of our names."""


def normalise_email(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidContact("email", "must be a non-empty string")
    try:
        # No DNS: validity of the shape only; deliverability is the SMTP server's answer.
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        # The library's message can quote parts of the address: never pass it on.
        raise InvalidContact("email", "not a valid e-mail address") from None


def normalise_phone(value: object, default_region: str | None = None) -> str:
    """E.164 (``+447700900123``)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidContact("phone", "must be a non-empty string")
    try:
        number = phonenumbers.parse(value.strip(), default_region)
    except phonenumbers.NumberParseException:
        raise InvalidContact("phone", "not a phone number (use +country code)") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidContact("phone", "not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_channel_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidContact(name, "must be a non-empty string")
    if len(value) > MAX_CHANNEL_ID_LENGTH:
        raise InvalidContact(name, f"longer than {MAX_CHANNEL_ID_LENGTH} characters")
    return value.strip()


def validate_ext_user_id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise InvalidContact("ext_user_id", f"must be 1-{MAX_ID_LENGTH} characters")
    if any(ord(char) < 32 for char in value):
        raise InvalidContact("ext_user_id", "must not contain control characters")
    return value


def parse_opt_outs(value: object) -> frozenset[Channel]:
    if not isinstance(value, list | tuple):
        raise InvalidContact("opted_out", "must be a list of channels")
    try:
        return frozenset(Channel(item) for item in value)
    except ValueError:
        allowed = ", ".join(channel.value for channel in Channel)
        raise InvalidContact("opted_out", f"channels are {allowed}") from None


def validate_locale(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 35:
        raise InvalidContact("locale", "must be a language tag such as en or pt-BR")
    if not all(char.isalnum() or char in "-_" for char in value):
        raise InvalidContact("locale", "must be a language tag such as en or pt-BR")
    return value


UNSET = object()
BODY_FIELDS = frozenset({*(f.value for f in CONTACT_FIELDS), "locale", "opted_out", "ext_user_id"})


@dataclass(frozen=True)
class SubjectChange:
    """A validated write: fields absent from the request stay as they are; a field given as
    ``null`` is removed."""

    ext_user_id: str
    contacts: dict[ContactField, str | None] = field(default_factory=dict)
    locale: object = UNSET
    opted_out: frozenset[Channel] | None = None

    @property
    def changed_fields(self) -> list[str]:
        names = [f.value for f in self.contacts]
        if self.locale is not UNSET:
            names.append("locale")
        if self.opted_out is not None:
            names.append("opted_out")
        return names


def parse_change(
    ext_user_id: str, body: object, default_region: str | None = None
) -> SubjectChange:
    """Validate a PUT body / import line; raises :class:`InvalidContact` naming the field."""
    ext_user_id = validate_ext_user_id(ext_user_id)
    if not isinstance(body, dict):
        raise InvalidContact("body", "must be a JSON object")
    unknown = set(body) - BODY_FIELDS
    if unknown:
        # The client hears which of its keys we do not know; the audit log never does: the
        # key may be anything, PII included, and that table is append-only.
        raise InvalidContact(sorted(unknown)[0], "unknown field", audited_as="body")
    contacts: dict[ContactField, str | None] = {}
    normalisers = {
        ContactField.EMAIL: normalise_email,
        ContactField.PHONE: lambda v: normalise_phone(v, default_region),
        ContactField.VIBER_ID: lambda v: normalise_channel_id("viber_id", v),
        ContactField.WHATSAPP_ID: lambda v: normalise_channel_id("whatsapp_id", v),
    }
    for name, normalise in normalisers.items():
        if name.value in body:
            value = body[name.value]
            contacts[name] = None if value is None else normalise(value)
    locale: object = UNSET
    if "locale" in body:
        locale = None if body["locale"] is None else validate_locale(body["locale"])
    opted_out = None
    if "opted_out" in body:
        opted_out = frozenset() if body["opted_out"] is None else parse_opt_outs(body["opted_out"])
    return SubjectChange(ext_user_id, contacts, locale, opted_out)


def channels_with_address(contacts: dict[ContactField, str]) -> frozenset[Channel]:
    """The channels a subject can be reached on (cim needs no address)."""
    channels = {Channel.CIM}
    if contacts.get(ContactField.EMAIL):
        channels.add(Channel.EMAIL)
    if contacts.get(ContactField.PHONE):
        channels.update({Channel.SMS, Channel.VIBER, Channel.WHATSAPP})
    if contacts.get(ContactField.VIBER_ID):
        channels.add(Channel.VIBER)
    if contacts.get(ContactField.WHATSAPP_ID):
        channels.add(Channel.WHATSAPP)
    return frozenset(channels)


def field_for(channel: Channel, present: set[ContactField]) -> ContactField | None:
    """The one field a message on ``channel`` needs: a per-channel id wins over the phone."""
    if channel is Channel.EMAIL:
        return ContactField.EMAIL if ContactField.EMAIL in present else None
    if channel is Channel.SMS:
        return ContactField.PHONE if ContactField.PHONE in present else None
    if channel is Channel.VIBER:
        return (
            ContactField.VIBER_ID
            if ContactField.VIBER_ID in present
            else (ContactField.PHONE if ContactField.PHONE in present else None)
        )
    if channel is Channel.WHATSAPP:
        return (
            ContactField.WHATSAPP_ID
            if ContactField.WHATSAPP_ID in present
            else (ContactField.PHONE if ContactField.PHONE in present else None)
        )
    return None  # cim: the operator's notification centre knows its users by ext_user_id


def mask(field_name: ContactField, value: str) -> str:
    """Enough for an operator to recognise a record, too little to contact anyone."""
    if field_name is ContactField.EMAIL:
        local, _, domain = value.partition("@")
        tld = domain.rsplit(".", 1)[-1]
        return f"{local[:1]}***@***.{tld}"
    if field_name is ContactField.PHONE:
        return f"{value[:3]}{'*' * max(0, len(value) - 5)}{value[-2:]}"
    return f"{value[:1]}***"


def blind_index_input(field_name: ContactField, value: str) -> str:
    """What the blind index hashes: case-folded, so lookups need not match case."""
    return f"{field_name.value}:{value.casefold()}"
