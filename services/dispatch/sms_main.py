"""``blindpost run dispatch-sms``: SMS, Viber and WhatsApp through their providers."""

from __future__ import annotations

from aiohttp import web

from services.dispatch.app import ProviderChoice, create_app
from services.dispatch.providers import Provider
from services.dispatch.providers.generic import GenericHttpProvider
from services.dispatch.providers.meta_whatsapp import MetaWhatsAppProvider
from services.dispatch.providers.twilio import TwilioProvider
from services.dispatch.providers.vonage import VonageProvider
from services.dispatch.settings import SmsSettings
from shared.domain import Channel, ChannelFamily
from shared.http import serve
from shared.logging import configure_logging
from shared.settings import SettingsError


def _twilio(settings: SmsSettings, concurrency: int) -> TwilioProvider:
    if not settings.twilio_account_sid or settings.twilio_auth_token is None:
        raise SettingsError(
            "BLINDPOST_TWILIO_ACCOUNT_SID and BLINDPOST_TWILIO_AUTH_TOKEN are required for twilio"
        )
    return TwilioProvider(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.secret("twilio_auth_token"),
        base_url=settings.twilio_base_url,
        public_base_url=settings.public_base_url,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        default_from=settings.sms_default_from,
        whatsapp_from=settings.twilio_whatsapp_from,
        concurrency=concurrency,
    )


def _generic(settings: SmsSettings, url: str, concurrency: int) -> GenericHttpProvider:
    token = settings.secret("sms_http_token") if settings.sms_http_token else None
    return GenericHttpProvider(
        url, token=token, default_from=settings.sms_default_from, concurrency=concurrency
    )


def build_sms_providers(settings: SmsSettings) -> dict[Channel, ProviderChoice]:
    sms: Provider
    if settings.sms_provider == "twilio":
        sms = _twilio(settings, settings.sms_concurrency)
    elif settings.sms_provider == "vonage":
        if not settings.vonage_api_key or settings.vonage_api_secret is None:
            raise SettingsError(
                "BLINDPOST_VONAGE_API_KEY and BLINDPOST_VONAGE_API_SECRET are required for vonage"
            )
        sms = VonageProvider(
            api_key=settings.vonage_api_key,
            api_secret=settings.secret("vonage_api_secret"),
            base_url=settings.vonage_base_url,
            default_from=settings.sms_default_from,
            concurrency=settings.sms_concurrency,
        )
    else:
        sms = _generic(settings, settings.sms_http_url, settings.sms_concurrency)
    viber = _generic(
        settings, settings.viber_http_url or settings.sms_http_url, settings.viber_concurrency
    )
    whatsapp: Provider
    if settings.whatsapp_provider == "meta":
        if settings.meta_access_token is None or not settings.meta_phone_number_id:
            raise SettingsError(
                "BLINDPOST_META_ACCESS_TOKEN and BLINDPOST_META_PHONE_NUMBER_ID are required "
                "for meta"
            )
        whatsapp = MetaWhatsAppProvider(
            access_token=settings.secret("meta_access_token"),
            phone_number_id=settings.meta_phone_number_id,
            api_version=settings.meta_api_version,
            base_url=settings.meta_base_url,
            concurrency=settings.whatsapp_concurrency,
        )
    elif settings.whatsapp_provider == "twilio" and settings.twilio_account_sid:
        whatsapp = _twilio(settings, settings.whatsapp_concurrency)
    else:
        # No WhatsApp account configured (the local stack): the generic provider stands in.
        whatsapp = _generic(settings, settings.sms_http_url, settings.whatsapp_concurrency)
    return {
        Channel.SMS: ProviderChoice(sms, settings.sms_rate_per_s, settings.sms_concurrency),
        Channel.VIBER: ProviderChoice(viber, settings.viber_rate_per_s, settings.viber_concurrency),
        Channel.WHATSAPP: ProviderChoice(
            whatsapp, settings.whatsapp_rate_per_s, settings.whatsapp_concurrency
        ),
    }


def create_sms_app(settings: SmsSettings) -> web.Application:
    return create_app(
        settings,
        ChannelFamily.SMS,
        settings.seal_private_keys_sms,
        lambda: build_sms_providers(settings),
    )


def main() -> None:
    settings = SmsSettings.from_env()
    configure_logging("dispatch-sms", settings.log_level, settings.log_format)
    serve(create_sms_app(settings), settings.http_host, settings.port)
