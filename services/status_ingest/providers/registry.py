"""Which providers a deployment answers for: each provider's setting and how it is built from
it, as data.  A provider whose setting is empty gets no endpoint (its path answers 404)."""

from __future__ import annotations

from collections.abc import Callable

from services.status_ingest.providers.base import Provider
from services.status_ingest.providers.generic import Generic
from services.status_ingest.providers.mailgun import Mailgun
from services.status_ingest.providers.sendgrid import SendGrid
from services.status_ingest.providers.ses import Fetch, Ses
from services.status_ingest.providers.twilio import Twilio
from services.status_ingest.providers.viber import Viber
from services.status_ingest.providers.vonage import Vonage
from services.status_ingest.providers.whatsapp import WhatsApp
from services.status_ingest.settings import StatusIngestSettings

Build = Callable[[StatusIngestSettings, Fetch], Provider]
Enabled = Callable[[StatusIngestSettings], object]


def _set(name: str) -> Enabled:
    return lambda settings: getattr(settings, name)


PROVIDERS: dict[str, tuple[Enabled, Build]] = {
    "sendgrid": (
        _set("sendgrid_webhook_public_key"),
        lambda s, _: SendGrid(s.secret("sendgrid_webhook_public_key")),
    ),
    "mailgun": (
        _set("mailgun_webhook_signing_key"),
        lambda s, _: Mailgun(s.secret("mailgun_webhook_signing_key")),
    ),
    "ses": (_set("ses_sns_topic_arns"), lambda s, fetch: Ses(s.ses_sns_topic_arns, fetch)),
    "twilio": (
        lambda s: s.twilio.auth_token,
        lambda s, _: Twilio(s.twilio.secret("auth_token")),
    ),
    "vonage": (
        _set("vonage_signature_secret"),
        lambda s, _: Vonage(s.secret("vonage_signature_secret"), s.vonage_signature_method),
    ),
    "viber": (
        lambda s: s.viber.auth_token,
        lambda s, _: Viber(s.viber.secret("auth_token")),
    ),
    "whatsapp": (
        _set("whatsapp_app_secret"),
        lambda s, _: WhatsApp(s.secret("whatsapp_app_secret")),
    ),
    "generic": (
        _set("generic_webhook_secret"),
        lambda s, _: Generic(list(s.generic_webhook_secret)),
    ),
}
"""name -> (whether its setting is given, how it is built)."""


def build_providers(settings: StatusIngestSettings, sns_fetch: Fetch) -> dict[str, Provider]:
    return {
        name: build(settings, sns_fetch)
        for name, (enabled, build) in PROVIDERS.items()
        if enabled(settings)
    }
