from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from shared.credentials import TwilioAccount, ViberAccount
from shared.settings import BlindpostSettings, CsvList, EventsDatabase


class StatusIngestSettings(BlindpostSettings):
    # A provider issues these: their length is not ours to choose (shared.secret_policy).
    issued_elsewhere: ClassVar[frozenset[str]] = frozenset(
        {
            "mailgun_webhook_signing_key",
            "vonage_signature_secret",
            "whatsapp_app_secret",
        }
    )
    status_ingest_port: int = 8082
    database: EventsDatabase
    public_base_url: str = "http://127.0.0.1:8082"
    tracking_secret: SecretStr
    # Rotation: links minted with these earlier secrets are still honoured.
    tracking_previous_secrets: CsvList = Field(default_factory=list, repr=False)
    tracking_link_ttl_days: float = Field(
        90.0, gt=0, description="How long open and click links work (unsubscribe links always do)"
    )
    vault_url: str = "http://127.0.0.1:8081"
    vault_unsubscribe_token: SecretStr = SecretStr("")
    webhook_replay_window_s: float = Field(300.0, gt=0)
    parked_ttl_s: float = Field(7 * 24 * 3600.0, gt=0)

    # Providers: a provider's endpoint answers 404 until its secret is configured.
    sendgrid_webhook_public_key: str | None = None
    mailgun_webhook_signing_key: SecretStr | None = None
    ses_sns_topic_arns: CsvList = Field(default_factory=list)
    twilio: TwilioAccount  # verifies the account's webhooks with its auth token
    vonage_signature_secret: SecretStr | None = None
    vonage_signature_method: str = Field("sha256", pattern="^(md5|sha1|sha256|sha512)$")
    viber: ViberAccount  # the bot's auth token signs its callbacks
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    generic_webhook_secret: CsvList = Field(default_factory=list)
