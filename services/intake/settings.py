"""Intake's settings (``BLINDPOST_INTAKE_*`` plus the shared ones)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.settings import BlindpostSettings, ContentKeysVault, EventsDatabase
from shared.tickets import TicketSigner

MIN_SECRET_BYTES = 32


def _split_secrets(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


SecretList = Annotated[list[SecretStr], BeforeValidator(_split_secrets)]


class IntakeSettings(BlindpostSettings):
    intake_port: int = Field(8080, ge=0, le=65535)
    deployment: str = Field(
        "production",
        validation_alias=AliasChoices("BLINDPOST_ENV"),
        description="'local' accepts the short secrets of deploy/local/blindpost.env",
    )  # before intake_secrets, whose check reads it
    intake_secrets: SecretList = Field(
        min_length=1,
        description="Authorization values Smartico may send (several during a rotation)",
    )
    database: EventsDatabase  # where intake keeps its subject directory
    seal_public_key_email: str = Field(description="'<key id>:<base64>' of the e-mail dispatcher")
    intake_seal_content: bool = Field(
        True,
        description="seal subjects, bodies and extensions under the player's content key "
        "(docs/vault.md, 'Content keys'); off only for tests of intake without a vault",
    )
    content_keys: ContentKeysVault
    intake_max_body_bytes: int = Field(1_048_576, gt=0)
    intake_answer_timeout_s: float = Field(
        1.5, gt=0, description="a dependency that has not answered by then gets error 6 (< 2 s)"
    )
    intake_directory_cache_ttl_s: float = Field(
        2.0, ge=0, description="how long a directory lookup is reused; 0 disables the cache"
    )
    intake_directory_cache_size: int = Field(50_000, ge=0)
    intake_kafka_linger_ms: int = Field(
        5, ge=0, description="how long the producer gathers records into one request"
    )
    intake_db_pool_size: int = Field(10, ge=1)
    intake_ticket_signing_key: SecretStr = Field(
        description="Ed25519 private key (base64url of 32 bytes) that signs each accepted "
        "message's resolution ticket; the vault holds its public key "
        "(BLINDPOST_VAULT_TICKET_PUBLIC_KEYS)"
    )
    intake_ticket_ttl_s: float = Field(
        48 * 3600.0,
        gt=0,
        description="how long a resolution ticket admits the read: twice the dispatchers' "
        "BLINDPOST_DISPATCH_MAX_AGE_S, so that a message held up (a vault outage, a backlog) "
        "expires at the dispatcher, never for want of a ticket",
    )
    cim_template: str | None = Field(
        None, description="the custom IM dispatcher's template, checked at intake too"
    )

    @field_validator("intake_secrets")
    @classmethod
    def _long_enough(cls, secrets: list[SecretStr], info: ValidationInfo) -> list[SecretStr]:
        # The Authorization value is the whole credential: a short one can be guessed.
        if info.data.get("deployment") != "local" and any(
            len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES for secret in secrets
        ):
            raise ValueError(
                f"each secret must be at least {MIN_SECRET_BYTES} bytes "
                "(shorter ones only with BLINDPOST_ENV=local)"
            )
        return secrets

    def ticket_signer(self) -> TicketSigner:
        return TicketSigner.from_setting(
            self.secret("intake_ticket_signing_key"),
            self.intake_ticket_ttl_s,
            "BLINDPOST_INTAKE_TICKET_SIGNING_KEY",
        )

    @model_validator(mode="after")
    def _sealing_needs_a_token(self) -> IntakeSettings:
        if self.intake_seal_content and not self.content_keys.secret("vault_content_token"):
            raise ValueError(
                "BLINDPOST_VAULT_CONTENT_TOKEN is required while BLINDPOST_INTAKE_SEAL_CONTENT "
                "is true (the default)"
            )
        return self

    def secret_values(self) -> list[bytes]:
        return [secret.get_secret_value().encode() for secret in self.intake_secrets]
