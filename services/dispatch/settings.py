"""Settings of the dispatchers: what they share, then one class per channel.

Every channel has the same settings, read by name: ``BLINDPOST_<CHANNEL>_PROVIDER``
(which adapter, a key of the dispatcher's registry) or ``_PROVIDERS`` (several, in failover
order), ``_RATE_PER_S`` and ``_CONCURRENCY`` (each provider's limits).  A provider's own
credentials sit in its dispatcher's class, one group per provider.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator

from services.dispatch.delivery_steps import RetryPolicy
from services.dispatch.email_message import EmailComposer, sender_domain
from shared.credentials import (
    MailgunAccount,
    MetaWhatsAppAccount,
    SendGridAccount,
    TwilioAccount,
    ViberAccount,
    VonageAccount,
)
from shared.domain import Channel, ChannelFamily
from shared.settings import BlindpostSettings, ContentKeysVault, CsvList, EventsDatabase
from shared.tracking import TrackingTokens
from shared.verp import BounceAddresses
from shared.work import DispatchWork

RatePerSecond = Annotated[float, Field(ge=0)]  # 0: no limit
Concurrency = Annotated[int, Field(ge=1)]


@dataclass(frozen=True)
class ProviderLimits:
    rate_per_s: float
    concurrency: int


class DispatchSettings(BlindpostSettings):
    database: EventsDatabase
    # Where sealed content's keys come from (shared/content_sealing.py).
    content_keys: ContentKeysVault
    public_base_url: str = "http://127.0.0.1:8082"
    # A message older than this (since intake accepted it) is not sent any more.
    dispatch_max_age_s: float = Field(24 * 3600.0, gt=0)
    dispatch_max_attempts: int = Field(8, ge=1)
    # Transient failures are retried this many times in-process, then parked on the ledger.
    dispatch_inline_retries: int = Field(1, ge=0)
    dispatch_inline_backoff_s: float = Field(0.2, ge=0)
    dispatch_park_initial_s: float = Field(30.0, gt=0)
    dispatch_park_max_s: float = Field(1800.0, gt=0)
    # One provider call may take this long; the lease on a 'sending' row is derived from it.
    dispatch_send_timeout_s: float = Field(15.0, gt=0)
    dispatch_sweep_interval_s: float = Field(1.0, gt=0)
    dispatch_max_batch: int = Field(500, ge=1)
    dispatch_breaker_threshold: int = Field(20, ge=1)
    dispatch_breaker_cooldown_s: float = Field(30.0, gt=0)
    # What the sweeper does with a send whose outcome is unknown (the dispatcher died in the
    # call) when the provider has no idempotency key: "auto" resends where the resend carries
    # the same Message-ID (SMTP, Mailgun) and fails the rest; "fail" never resends (at most
    # once); "resend" always does (at least once).  docs/dispatch.md has the table.
    dispatch_unknown_outcome: Literal["auto", "fail", "resend"] = "auto"
    dispatch_lease_slack_s: float = Field(30.0, ge=0)
    dispatch_instance: str = Field(
        default_factory=socket.gethostname,
        validation_alias=AliasChoices("BLINDPOST_INSTANCE_ID", "BLINDPOST_DISPATCH_INSTANCE"),
        description="this dispatcher process (the chart gives the pod name), named in each "
        "dispatch.attempted: which process used an address",
    )

    def sending_domain(self, work: DispatchWork) -> str | None:
        """The operator's domain a message is sent from, for deliverability: e-mail only."""
        return None

    @property
    def parked_domain_recheck_s(self) -> float | None:
        """How often mail held for a parked sending domain is looked at again; None when
        this dispatcher parks no domain (all but e-mail, and e-mail by default)."""
        return None

    @property
    def lease_s(self) -> float:
        # Longer than any attempt sequence one claim can run: (inline retries + 1) calls,
        # their back-offs, and slack for a slow event-log acknowledgement.
        calls = self.dispatch_inline_retries + 1
        return (
            calls * (self.dispatch_send_timeout_s + self.dispatch_inline_backoff_s * 4)
            + self.dispatch_lease_slack_s
        )

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.dispatch_max_attempts,
            max_age_s=self.dispatch_max_age_s,
            inline_retries=self.dispatch_inline_retries,
            inline_backoff_s=self.dispatch_inline_backoff_s,
            park_initial_s=self.dispatch_park_initial_s,
            park_max_s=self.dispatch_park_max_s,
            unknown_outcome=self.dispatch_unknown_outcome,
        )


class FamilySettings(DispatchSettings):
    """One dispatcher: it sends one channel (its own topic, group, process and limits).  Its
    class names by convention ``dispatch_<channel>_port``, ``seal_private_keys_<family>``
    (the keys open one kind of address: SMS, Viber and WhatsApp share the phone keys), and
    ``<channel>_provider``, ``<channel>_rate_per_s`` and ``<channel>_concurrency``."""

    # Refused when copied from the local env file (shared.secret_policy).
    key_material: ClassVar[frozenset[str]] = frozenset(
        {"seal_private_keys_email", "seal_private_keys_sms", "seal_private_keys_cim"}
    )

    channel: ClassVar[Channel]

    @property
    def family(self) -> ChannelFamily:
        return self.channel.family

    @property
    def port(self) -> int:
        return int(getattr(self, f"dispatch_{self.channel.value}_port"))

    @property
    def private_keys(self) -> list[str]:
        return list(getattr(self, f"seal_private_keys_{self.family.value}"))

    @property
    def channels(self) -> list[Channel]:
        return [self.channel]

    def provider_for(self, channel: Channel) -> str:
        return str(getattr(self, f"{channel.value}_provider"))

    def providers_for(self, channel: Channel) -> list[str]:
        """``BLINDPOST_<CHANNEL>_PROVIDERS`` in failover order, else the one ``_PROVIDER``."""
        return list(getattr(self, f"{channel.value}_providers")) or [self.provider_for(channel)]

    def limits(self, channel: Channel) -> ProviderLimits:
        return ProviderLimits(
            getattr(self, f"{channel.value}_rate_per_s"),
            getattr(self, f"{channel.value}_concurrency"),
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmailSettings(FamilySettings):
    # A provider issues these: their length is not ours to choose (shared.secret_policy).
    issued_elsewhere: ClassVar[frozenset[str]] = frozenset(
        {"smtp_password", "dkim_private_key"}
    )
    channel = Channel.EMAIL
    dispatch_email_port: int = 8084
    seal_private_keys_email: CsvList = Field(default_factory=list)
    email_provider: Literal["smtp", "sendgrid", "mailgun"] = "smtp"
    email_providers: CsvList = Field(default_factory=list)  # failover order
    email_rate_per_s: RatePerSecond = 0.0
    email_concurrency: Concurrency = 64
    message_id_domain: str = "blindpost.local"
    default_from_email: str = "Blindpost <noreply@blindpost.local>"
    tracking_secret: SecretStr = SecretStr("local-tracking-secret")
    email_tracking: bool = True
    # smtp
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_tls: Literal["none", "starttls", "implicit"] = Field(
        "starttls", description="`none` (plain) only to a loopback relay or in a local run"
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_validate_certs: bool = True
    smtp_pool_size: int = Field(32, ge=1)
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    dkim_private_key: SecretStr | None = Field(None, description="PEM, or a path to a PEM file")
    sendgrid: SendGridAccount
    mailgun: MailgunAccount
    bounce: BounceAddresses  # the SMTP envelope sender (VERP), when configured
    # Park a sending domain's mail while its complaint level is critical, until
    # `blindpost deliverability resume DOMAIN` (docs/deliverability.md).  Off by default.
    dispatch_email_park_on_complaints: bool = False
    # Held mail is looked at again this often: with the setting turned off meanwhile, it
    # goes out then (a resume sends it at once).
    dispatch_email_park_recheck_s: float = Field(600.0, gt=0)

    @model_validator(mode="after")
    def _plain_smtp_only_to_loopback(self) -> Self:
        if self.smtp_tls == "none" and not (self.is_local or _is_loopback(self.smtp_host)):
            raise ValueError(
                "BLINDPOST_SMTP_TLS=none sends mail in clear text: allowed only when "
                "BLINDPOST_SMTP_HOST is loopback (or BLINDPOST_ENV=local); use starttls or implicit"
            )
        return self

    def composer(self) -> EmailComposer:
        tokens = None
        if self.email_tracking:
            tokens = TrackingTokens(
                secret=self.secret("tracking_secret").encode(), base_url=self.public_base_url
            )
        return EmailComposer(self.default_from_email, self.message_id_domain, tokens)

    def sending_domain(self, work: DispatchWork) -> str | None:
        return sender_domain(work.content.from_email_address or self.default_from_email)

    @property
    def parked_domain_recheck_s(self) -> float | None:
        if not self.dispatch_email_park_on_complaints:
            return None
        return self.dispatch_email_park_recheck_s


class PhoneSettings(FamilySettings):
    """What the SMS, Viber and WhatsApp dispatchers share: the phone keys and the accounts
    of providers that carry more than one of these channels."""

    # A provider issues these: their length is not ours to choose (shared.secret_policy).
    issued_elsewhere: ClassVar[frozenset[str]] = frozenset(
        {"sms_http_token"}
    )
    seal_private_keys_sms: CsvList = Field(default_factory=list)
    sms_default_from: str | None = None
    # generic
    sms_http_url: str = "http://127.0.0.1:9901/sms"
    sms_http_token: SecretStr | None = None
    viber_http_url: str | None = Field(None, description="defaults to BLINDPOST_SMS_HTTP_URL")
    twilio: TwilioAccount
    vonage: VonageAccount
    meta: MetaWhatsAppAccount

    def http_url(self, channel: Channel) -> str:
        """The generic provider's URL for a channel: Viber may have its own."""
        if channel is Channel.VIBER and self.viber_http_url:
            return self.viber_http_url
        return self.sms_http_url


class SmsSettings(PhoneSettings):
    channel = Channel.SMS
    dispatch_sms_port: int = 8085
    sms_provider: Literal["generic", "twilio", "vonage"] = "generic"
    sms_providers: CsvList = Field(default_factory=list)  # failover order
    sms_rate_per_s: RatePerSecond = 0.0
    sms_concurrency: Concurrency = 64


class ViberSettings(PhoneSettings):
    channel = Channel.VIBER
    dispatch_viber_port: int = 8091
    viber_provider: Literal["generic", "viber"] = "generic"
    viber_providers: CsvList = Field(default_factory=list)  # failover order
    viber_rate_per_s: RatePerSecond = 0.0
    viber_concurrency: Concurrency = 32
    viber: ViberAccount  # Viber's own bot API (provider "viber")


class WhatsAppSettings(PhoneSettings):
    channel = Channel.WHATSAPP
    dispatch_whatsapp_port: int = 8092
    whatsapp_provider: Literal["twilio", "meta", "generic"] = "twilio"
    whatsapp_providers: CsvList = Field(default_factory=list)  # failover order
    whatsapp_rate_per_s: RatePerSecond = 0.0
    whatsapp_concurrency: Concurrency = 32

    def provider_for(self, channel: Channel) -> str:
        chosen = super().provider_for(channel)
        if chosen == "twilio" and not self.twilio.account_sid:
            # No WhatsApp account configured (the local stack): the generic provider stands in.
            return "generic"
        return chosen


class CimSettings(FamilySettings):
    channel = Channel.CIM
    dispatch_cim_port: int = 8086
    seal_private_keys_cim: CsvList = Field(default_factory=list)
    cim_provider: Literal["cim"] = "cim"
    cim_providers: CsvList = Field(default_factory=list)  # failover order
    cim_rate_per_s: RatePerSecond = 0.0
    cim_concurrency: Concurrency = 32
    cim_url: str = "http://127.0.0.1:9902/cim"
    cim_signing_secret: SecretStr = SecretStr("local-cim-signing-secret")
    cim_template: str | None = Field(None, description="JSON: field -> {type, required, choices}")
