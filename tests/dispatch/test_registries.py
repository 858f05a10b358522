"""Every provider a setting may name is in its dispatcher's registry, and each channel gets
the provider its setting names (built without a network call)."""

from __future__ import annotations

import typing

import pytest

from services.dispatch.cim_main import CIM
from services.dispatch.email_main import EMAIL
from services.dispatch.family import Family
from services.dispatch.settings import SmsSettings, ViberSettings, WhatsAppSettings
from services.dispatch.sms_main import SMS
from services.dispatch.viber_main import VIBER
from services.dispatch.whatsapp_main import WHATSAPP
from shared.domain import Channel
from shared.settings import SettingsError

DISPATCHERS = [EMAIL, SMS, VIBER, WHATSAPP, CIM]


@pytest.mark.parametrize("family", DISPATCHERS, ids=lambda f: f.settings.channel.value)
def test_every_choice_a_setting_allows_is_registered(family: Family):
    settings = family.settings
    for channel in settings.model_construct().channels:
        annotation = settings.model_fields[f"{channel.value}_provider"].annotation
        assert set(typing.get_args(annotation)) <= set(family.providers), channel


# Building providers needs no database; the settings still name one, as the service needs it.
# Local rules for secrets: the short test credentials below would be refused in production.
DATABASE = {"DATABASE_URL": "postgresql://dispatch@db.invalid/events", "BLINDPOST_ENV": "local"}


async def test_channels_get_the_provider_their_setting_names():
    env = {
        **DATABASE,
        "BLINDPOST_SMS_PROVIDER": "vonage",
        "BLINDPOST_VONAGE_API_KEY": "k",
        "BLINDPOST_VONAGE_API_SECRET": "s",
        "BLINDPOST_VIBER_HTTP_URL": "http://127.0.0.1:1/viber",
        "BLINDPOST_VIBER_RATE_PER_S": "5",
        "BLINDPOST_WHATSAPP_CONCURRENCY": "3",
    }
    chosen = {
        **SMS.choose_providers(SmsSettings.from_env(env)),
        **VIBER.choose_providers(ViberSettings.from_env(env)),
        **WHATSAPP.choose_providers(WhatsAppSettings.from_env(env)),
    }
    choices = {channel: only for channel, (only,) in chosen.items()}
    try:
        names = {channel: choice.provider.name for channel, choice in choices.items()}
        # WhatsApp's default, Twilio, without a Twilio account: the generic provider stands in.
        assert names == {
            Channel.SMS: "vonage",
            Channel.VIBER: "generic",
            Channel.WHATSAPP: "generic",
        }
        assert choices[Channel.VIBER].provider.url == "http://127.0.0.1:1/viber"  # type: ignore[attr-defined]
        assert (choices[Channel.VIBER].rate_per_s, choices[Channel.WHATSAPP].concurrency) == (5, 3)
    finally:
        for choice in choices.values():
            await choice.provider.close()


def test_missing_credentials_are_named_not_shown():
    settings = SmsSettings.from_env({**DATABASE, "BLINDPOST_SMS_PROVIDER": "twilio"})
    with pytest.raises(
        SettingsError, match="BLINDPOST_TWILIO_ACCOUNT_SID and BLINDPOST_TWILIO_AUTH_TOKEN"
    ):
        SMS.choose_providers(settings)


async def test_providers_listed_fail_over_in_their_order():
    env = {
        **DATABASE,
        "BLINDPOST_SMS_PROVIDERS": "vonage,generic",
        "BLINDPOST_SMS_PROVIDER": "twilio",  # the list wins
        "BLINDPOST_VONAGE_API_KEY": "k",
        "BLINDPOST_VONAGE_API_SECRET": "s",
        "BLINDPOST_SMS_RATE_PER_S": "7",
    }
    (chosen,) = SMS.choose_providers(SmsSettings.from_env(env)).values()
    try:
        assert [c.provider.name for c in chosen] == ["vonage", "generic"]
        assert [c.rate_per_s for c in chosen] == [7, 7]  # the channel's limits, each
    finally:
        for choice in chosen:
            await choice.provider.close()


@pytest.mark.parametrize("listed", ["generic,nonesuch", "generic,generic"])
def test_a_provider_list_naming_an_unknown_or_a_repeated_provider_is_refused(listed):
    settings = SmsSettings.from_env({**DATABASE, "BLINDPOST_SMS_PROVIDERS": listed})
    with pytest.raises(SettingsError, match="BLINDPOST_SMS_PROVIDERS"):
        SMS.choose_providers(settings)
