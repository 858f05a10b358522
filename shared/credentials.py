"""Provider accounts, one settings group per provider, shared by every service that talks to
that provider: the dispatcher that sends through an account and status ingest that verifies
the same account's webhooks read the same variables (``BLINDPOST_TWILIO_AUTH_TOKEN``, ...)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import EnvSettings, SettingsError


class ProviderAccount(EnvSettings):
    provider: ClassVar[str]
    required: ClassVar[tuple[str, ...]]
    # The provider issues every credential: its length is not ours to choose
    # (shared.secret_policy still refuses one copied from the local settings).
    issued_elsewhere: ClassVar[frozenset[str]] = frozenset(
        {"auth_token", "api_key", "api_secret", "access_token"}
    )

    @property
    def configured(self) -> bool:
        return all(getattr(self, name) not in (None, "") for name in self.required)

    def require(self) -> list[str]:
        """The required credentials as text; refuses (naming the variables, never a value)
        when one is missing, so a service configured for this provider does not start."""
        # A secret counts once set, even empty; other values must not be empty.
        missing = [name for name in self.required if getattr(self, name) in (None, "")]
        if missing:
            names = " and ".join(self.env_names(name)[0] for name in missing)
            verb = "is" if len(missing) == 1 else "are"
            raise SettingsError(f"{names} {verb} required for the {self.provider} provider")
        return [self.secret(name) for name in self.required]


class TwilioAccount(ProviderAccount):
    model_config = SettingsConfigDict(env_prefix="BLINDPOST_TWILIO_")
    provider = "twilio"
    required = ("account_sid", "auth_token")
    account_sid: str | None = None
    auth_token: SecretStr | None = None  # also signs the account's status webhooks
    base_url: str = "https://api.twilio.com"
    messaging_service_sid: str | None = None
    whatsapp_from: str | None = None


class VonageAccount(ProviderAccount):
    model_config = SettingsConfigDict(env_prefix="BLINDPOST_VONAGE_")
    provider = "vonage"
    required = ("api_key", "api_secret")
    api_key: str | None = None
    api_secret: SecretStr | None = None
    base_url: str = "https://rest.nexmo.com"


class MetaWhatsAppAccount(ProviderAccount):
    model_config = SettingsConfigDict(env_prefix="BLINDPOST_META_")
    provider = "meta"
    required = ("access_token", "phone_number_id")
    access_token: SecretStr | None = None
    phone_number_id: str | None = None
    api_version: str = "v21.0"
    base_url: str = "https://graph.facebook.com"


class SendGridAccount(ProviderAccount):
    model_config = SettingsConfigDict(env_prefix="BLINDPOST_SENDGRID_")
    provider = "sendgrid"
    required = ("api_key",)
    api_key: SecretStr | None = None
    base_url: str = "https://api.sendgrid.com"


class MailgunAccount(ProviderAccount):
    model_config = SettingsConfigDict(env_prefix="BLINDPOST_MAILGUN_")
    provider = "mailgun"
    required = ("api_key", "domain")
    api_key: SecretStr | None = None
    domain: str | None = None
    base_url: str = "https://api.mailgun.net"
