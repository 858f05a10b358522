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
from services.status_ingest.providers.vonage import Vonage
from services.status_ingest.providers.whatsapp import WhatsApp
from services.status_ingest.settings import StatusIngestSettings

Build = Callable[[StatusIngestSettings, Fetch], Provider]

PROVIDERS: dict[str, tuple[str, Build]] = {
    "sendgrid": (
        "sendgrid_webhook_public_key",
        lambda s, _: SendGrid(s.secret("sendgrid_webhook_public_key")),
    ),
    "mailgun": (
        "mailgun_webhook_signing_key",
        lambda s, _: Mailgun(s.secret("mailgun_webhook_signing_key")),
    ),
    "ses": ("ses_sns_topic_arns", lambda s, fetch: Ses(s.ses_sns_topic_arns, fetch)),
    "twilio": ("twilio_auth_token", lambda s, _: Twilio(s.secret("twilio_auth_token"))),
    "vonage": (
        "vonage_signature_secret",
        lambda s, _: Vonage(s.secret("vonage_signature_secret"), s.vonage_signature_method),
    ),
    "whatsapp": ("whatsapp_app_secret", lambda s, _: WhatsApp(s.secret("whatsapp_app_secret"))),
    "generic": ("generic_webhook_secret", lambda s, _: Generic(list(s.generic_webhook_secret))),
}
"""name -> (the setting that enables it, how it is built)."""


def build_providers(settings: StatusIngestSettings, sns_fetch: Fetch) -> dict[str, Provider]:
    return {
        name: build(settings, sns_fetch)
        for name, (setting, build) in PROVIDERS.items()
        if getattr(settings, setting)
    }
