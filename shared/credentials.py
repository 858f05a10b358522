"""Provider accounts, one settings group per provider, shared by every service that talks to
that provider: the dispatcher that sends through an account and status ingest that verifies
the same account's webhooks read the same variables (``BLINDPOST_TWILIO_AUTH_TOKEN``, ...)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import SecretStr

from shared.env_settings import PREFIX
from shared.settings import EnvSettings, SettingsError


class ProviderAccount(EnvSettings):
    provider: ClassVar[str]
    """Also names the account's variables: ``BLINDPOST_<PROVIDER>_<FIELD>``."""
    required: ClassVar[tuple[str, ...]]
    # The provider issues every credential: its length is not ours to choose
    # (shared.secret_policy still refuses one copied from the local settings).
    issued_elsewhere: ClassVar[frozenset[str]] = frozenset(
        {"auth_token", "api_key", "api_secret", "access_token"}
    )

    def __init_subclass__(cls, *, provider: str, required: tuple[str, ...], **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.provider = provider
        cls.required = required

    @classmethod
    def env_names(cls, field_name: str) -> list[str]:
        return [f"{PREFIX}{cls.provider.upper()}_{field_name.upper()}"]

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


class TwilioAccount(ProviderAccount, provider="twilio", required=("account_sid", "auth_token")):
    account_sid: str | None = None
    auth_token: SecretStr | None = None  # also signs the account's status webhooks
    base_url: str = "https://api.twilio.com"
    messaging_service_sid: str | None = None
    whatsapp_from: str | None = None


class VonageAccount(ProviderAccount, provider="vonage", required=("api_key", "api_secret")):
    api_key: str | None = None
    api_secret: SecretStr | None = None
    base_url: str = "https://rest.nexmo.com"


class MetaWhatsAppAccount(
    ProviderAccount, provider="meta", required=("access_token", "phone_number_id")
):
    access_token: SecretStr | None = None
    phone_number_id: str | None = None
    api_version: str = "v21.0"
    base_url: str = "https://graph.facebook.com"


class ViberAccount(ProviderAccount, provider="viber", required=("auth_token", "sender_name")):
    """A Viber business bot (Viber's REST bot API): its token signs its callbacks too."""

    auth_token: SecretStr | None = None
    sender_name: str | None = None  # shown as the sender; Viber allows 28 characters
    base_url: str = "https://chatapi.viber.com"


class SendGridAccount(ProviderAccount, provider="sendgrid", required=("api_key",)):
    api_key: SecretStr | None = None
    base_url: str = "https://api.sendgrid.com"


class MailgunAccount(ProviderAccount, provider="mailgun", required=("api_key", "domain")):
    api_key: SecretStr | None = None
    domain: str | None = None
    base_url: str = "https://api.mailgun.net"
