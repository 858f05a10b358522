"""Validation and normalisation (phonenumbers, email-validator), addresses per channel,
masking: pure functions."""

from __future__ import annotations

import pytest

from services.vault.domain import (
    ContactField,
    InvalidContact,
    channels_with_address,
    field_for,
    mask,
    parse_change,
)
from shared.domain import Channel


@pytest.mark.parametrize(
    ("given", "e164"),
    [
        ("+44 7911 123456", "+447911123456"),
        ("+1 (202) 555-0143", "+12025550143"),
        ("00357 99 123456", "+35799123456"),
    ],
)
def test_phones_are_normalised_to_e164(given, e164):
    assert (
        parse_change("u", {"phone": given}, "GB" if given.startswith("00") else None).contacts[
            ContactField.PHONE
        ]
        == e164
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "+44 7700 900123"}, "phone"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@@b.com"}, "email"),
        ({"opted_out": ["fax"]}, "opted_out"),
        ({"nickname": "x"}, "nickname"),
        ({"locale": "en US!"}, "locale"),
    ],
)
def test_invalid_values_name_the_field_and_never_the_value(body, field):
    with pytest.raises(InvalidContact) as error:
        parse_change("u", body)
    assert error.value.field == field
    for value in body.values():
        assert str(value) not in str(error.value)


def test_email_is_normalised_and_absent_fields_are_left_alone():
    change = parse_change("u", {"email": "Ada.Lovelace@EXAMPLE.org", "phone": None})
    assert change.contacts == {
        ContactField.EMAIL: "Ada.Lovelace@example.org",
        ContactField.PHONE: None,
    }
    assert change.changed_fields == ["email", "phone"]


def test_each_channel_uses_its_own_id_before_the_phone():
    present = {ContactField.PHONE, ContactField.VIBER_ID}
    assert field_for(Channel.VIBER, present) is ContactField.VIBER_ID
    assert field_for(Channel.WHATSAPP, present) is ContactField.PHONE
    assert field_for(Channel.EMAIL, present) is None
    assert channels_with_address({ContactField.PHONE: "x"}) == {
        Channel.SMS,
        Channel.VIBER,
        Channel.WHATSAPP,
        Channel.CIM,
    }


def test_masks_keep_too_little_to_contact_anyone():
    assert mask(ContactField.EMAIL, "ada.lovelace@example.org") == "a***@***.org"
    assert mask(ContactField.PHONE, "+447911123456") == "+44********56"
