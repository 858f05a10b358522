"""Settings of the three dispatchers: what they share, then one class per family."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from shared.settings import BlindpostSettings, CsvList, EventsDatabase


class DispatchSettings(BlindpostSettings):
    database: EventsDatabase
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

    @property
    def lease_s(self) -> float:
        # Longer than any attempt sequence one claim can run: (inline retries + 1) calls,
        # their back-offs, and slack for a slow event-log acknowledgement.
        calls = self.dispatch_inline_retries + 1
        return (
            calls * (self.dispatch_send_timeout_s + self.dispatch_inline_backoff_s * 4)
            + self.dispatch_lease_slack_s
        )


class EmailSettings(DispatchSettings):
    dispatch_email_port: int = 8084
    seal_private_keys_email: CsvList = Field(default_factory=list)
    email_provider: Literal["smtp", "sendgrid", "mailgun"] = "smtp"
    email_rate_per_s: float = Field(0.0, ge=0)
    email_concurrency: int = Field(64, ge=1)
    message_id_domain: str = "blindpost.local"
    default_from_email: str = "Blindpost <noreply@blindpost.local>"
    tracking_secret: SecretStr = SecretStr("local-tracking-secret")
    email_tracking: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_tls: Literal["none", "starttls", "implicit"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_validate_certs: bool = True
    smtp_pool_size: int = Field(32, ge=1)
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    dkim_private_key: SecretStr | None = Field(None, description="PEM, or a path to a PEM file")
    sendgrid_api_key: SecretStr | None = None
    sendgrid_base_url: str = "https://api.sendgrid.com"
    mailgun_api_key: SecretStr | None = None
    mailgun_domain: str | None = None
    mailgun_base_url: str = "https://api.mailgun.net"

    @property
    def port(self) -> int:
        return self.dispatch_email_port


class SmsSettings(DispatchSettings):
    dispatch_sms_port: int = 8085
    seal_private_keys_sms: CsvList = Field(default_factory=list)
    sms_provider: Literal["generic", "twilio", "vonage"] = "generic"
    viber_provider: Literal["generic"] = "generic"
    whatsapp_provider: Literal["twilio", "meta", "generic"] = "twilio"
    sms_rate_per_s: float = Field(0.0, ge=0)
    sms_concurrency: int = Field(64, ge=1)
    viber_rate_per_s: float = Field(0.0, ge=0)
    viber_concurrency: int = Field(32, ge=1)
    whatsapp_rate_per_s: float = Field(0.0, ge=0)
    whatsapp_concurrency: int = Field(32, ge=1)
    sms_default_from: str | None = None
    sms_http_url: str = "http://127.0.0.1:9901/sms"
    sms_http_token: SecretStr | None = None
    viber_http_url: str | None = Field(None, description="defaults to BLINDPOST_SMS_HTTP_URL")
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_base_url: str = "https://api.twilio.com"
    twilio_messaging_service_sid: str | None = None
    twilio_whatsapp_from: str | None = None
    vonage_api_key: str | None = None
    vonage_api_secret: SecretStr | None = None
    vonage_base_url: str = "https://rest.nexmo.com"
    meta_access_token: SecretStr | None = None
    meta_phone_number_id: str | None = None
    meta_api_version: str = "v21.0"
    meta_base_url: str = "https://graph.facebook.com"

    @property
    def port(self) -> int:
        return self.dispatch_sms_port


class CimSettings(DispatchSettings):
    dispatch_cim_port: int = 8086
    seal_private_keys_cim: CsvList = Field(default_factory=list)
    cim_url: str = "http://127.0.0.1:9902/cim"
    cim_signing_secret: SecretStr = SecretStr("local-cim-signing-secret")
    cim_template: str | None = Field(None, description="JSON: field -> {type, required, choices}")
    cim_rate_per_s: float = Field(0.0, ge=0)
    cim_concurrency: int = Field(32, ge=1)

    @property
    def port(self) -> int:
        return self.dispatch_cim_port
