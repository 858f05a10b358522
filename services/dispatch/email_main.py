"""``blindpost run dispatch-email``: e-mail over SMTP (default), SendGrid or Mailgun."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.dispatch.app import ProviderChoice, create_app
from services.dispatch.email_message import DkimSigner
from services.dispatch.providers.mailgun import MailgunProvider
from services.dispatch.providers.sendgrid import SendGridProvider
from services.dispatch.providers.smtp import SmtpPool, SmtpProvider, load_pem
from services.dispatch.settings import EmailSettings
from shared.domain import Channel, ChannelFamily
from shared.http import serve
from shared.logging import configure_logging
from shared.settings import SettingsError
from shared.tracking import TrackingTokens


def build_email_provider(settings: EmailSettings) -> ProviderChoice:
    tokens = None
    if settings.email_tracking:
        tokens = TrackingTokens(
            secret=settings.secret("tracking_secret").encode(), base_url=settings.public_base_url
        )
    common: dict[str, Any] = {
        "default_from": settings.default_from_email,
        "message_id_domain": settings.message_id_domain,
        "tokens": tokens,
    }
    provider: SmtpProvider | SendGridProvider | MailgunProvider
    if settings.email_provider == "sendgrid":
        if settings.sendgrid_api_key is None:
            raise SettingsError("BLINDPOST_SENDGRID_API_KEY is required for the sendgrid provider")
        provider = SendGridProvider(
            api_key=settings.secret("sendgrid_api_key"),
            base_url=settings.sendgrid_base_url,
            concurrency=settings.email_concurrency,
            **common,
        )
    elif settings.email_provider == "mailgun":
        if settings.mailgun_api_key is None or not settings.mailgun_domain:
            raise SettingsError(
                "BLINDPOST_MAILGUN_API_KEY and BLINDPOST_MAILGUN_DOMAIN are required for mailgun"
            )
        provider = MailgunProvider(
            api_key=settings.secret("mailgun_api_key"),
            domain=settings.mailgun_domain,
            base_url=settings.mailgun_base_url,
            concurrency=settings.email_concurrency,
            **common,
        )
    else:
        dkim = None
        if settings.dkim_private_key is not None:
            if not (settings.dkim_domain and settings.dkim_selector):
                raise SettingsError(
                    "BLINDPOST_DKIM_DOMAIN and BLINDPOST_DKIM_SELECTOR go with "
                    "BLINDPOST_DKIM_PRIVATE_KEY"
                )
            dkim = DkimSigner(
                settings.dkim_domain,
                settings.dkim_selector,
                load_pem(settings.secret("dkim_private_key")),
            )
        pool = SmtpPool(
            host=settings.smtp_host,
            port=settings.smtp_port,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.secret("smtp_password") if settings.smtp_password else None,
            validate_certs=settings.smtp_validate_certs,
            size=settings.smtp_pool_size,
            timeout_s=settings.dispatch_send_timeout_s,
        )
        provider = SmtpProvider(pool, dkim=dkim, **common)
    return ProviderChoice(provider, settings.email_rate_per_s, settings.email_concurrency)


def create_email_app(settings: EmailSettings) -> web.Application:
    return create_app(
        settings,
        ChannelFamily.EMAIL,
        settings.seal_private_keys_email,
        lambda: {Channel.EMAIL: build_email_provider(settings)},
    )


def main() -> None:
    settings = EmailSettings.from_env()
    configure_logging("dispatch-email", settings.log_level, settings.log_format)
    serve(create_email_app(settings), settings.http_host, settings.port)
