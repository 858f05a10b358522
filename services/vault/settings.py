"""The vault's settings: its own database (and the owner role that migrates it), its
principals, key material and the audit log's checkpoint key."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from shared.settings import BODY_RETENTION_DAYS, BlindpostSettings, CsvList, VaultDatabase


class VaultSettings(BlindpostSettings):
    # Refused when copied from the local env file (shared.secret_policy).
    key_material: ClassVar[frozenset[str]] = frozenset({"vault_keks"})
    # A DSN's password is the database's to choose: refused only when it is the shipped one.
    issued_elsewhere: ClassVar[frozenset[str]] = frozenset({"vault_owner_database_url"})
    vault_port: int = 8081
    database: VaultDatabase
    vault_owner_database_url: SecretStr | None = Field(
        None,
        description="the owner role's DSN, for the migration step only; the service itself "
        "runs without it (then it only checks that the schema is up to date)",
    )
    # One principal per scope, named after it; optional so that operator commands run
    # without them.  More principals, and several tokens per principal (rotation), come
    # from BLINDPOST_VAULT_PRINCIPALS (see services.vault.principals).
    vault_admin_token: SecretStr = SecretStr("")
    vault_resolver_token: SecretStr = SecretStr("")
    vault_auditor_token: SecretStr = SecretStr("")
    vault_unsubscribe_token: SecretStr = SecretStr("")
    vault_content_token: SecretStr = SecretStr("")
    vault_principals: SecretStr = Field(
        SecretStr(""),
        description="'<principal>:<scope>:<token>' entries, comma- or newline-separated; the "
        "token may be given as 'sha256:<hex digest>' so that the vault never holds it",
    )
    # Secrets as a plain list: parsed once into a Keyring, never logged.
    vault_keks: CsvList = Field(repr=False)
    vault_active_kek: str
    vault_kek_epochs_dir: Path | None = Field(
        None,
        description="the directory of KEK epochs' random material (outside PostgreSQL and its "
        "backups); unset, new data keys are wrapped by BLINDPOST_VAULT_ACTIVE_KEK",
    )
    vault_kek_epoch_master: SecretStr = Field(
        SecretStr(""),
        description="base64url of 32 bytes: with an epoch's material, derives its KEK",
    )
    vault_kek_epoch_days: int = Field(
        30, ge=1, description="`rotate-epochs` starts a new KEK epoch when the current is this old"
    )
    vault_backup_retention_days: int = Field(
        35,
        ge=0,
        description="how long database backups are kept: a retired KEK epoch is destroyed "
        "this long after the last data key left it",
    )
    vault_content_period_days: int = Field(
        7,
        ge=1,
        description="content is sealed under a key per player and period of this many days "
        "(UTC, from 1970-01-01); a key is destroyed when its period ended "
        "BLINDPOST_BODY_RETENTION_DAYS ago",
    )
    body_retention_days: int = BODY_RETENTION_DAYS
    vault_kek_epoch_refresh_s: float = Field(
        60.0, gt=0, description="how often the vault re-reads the KEK epoch directory"
    )
    vault_blind_index_key: SecretStr
    vault_blind_index_key_version: int = Field(1, ge=1)
    # Earlier blind-index keys, '<version>:<base64url key>', searched until re-indexed.
    vault_blind_index_previous_keys: CsvList = Field(default_factory=list, repr=False)
    vault_audit_signing_key: SecretStr = Field(
        SecretStr(""),
        description="Ed25519 private key (base64url of its 32 bytes) that signs the audit "
        "log's checkpoints; the service refuses to start without it",
    )
    vault_audit_public_keys: CsvList = Field(
        default_factory=list,
        description="Ed25519 public keys (base64url) `audit verify` accepts checkpoints from; "
        "by default the signing key's own",
    )
    vault_ticket_public_keys: CsvList = Field(
        default_factory=list,
        description="Ed25519 public keys (base64url) of intake's resolution-ticket signing "
        "key, several while it changes; the resolver's reads need a ticket one of them "
        "signed, and the service refuses to start without one",
    )
    vault_audit_checkpoint_interval_s: float = Field(
        60.0, gt=0, description="How often a new audit head is signed and published"
    )
    vault_audit_retention_days: int = Field(
        0, ge=0, description="`audit prune` drops rows older than this (0: keep every row)"
    )
    vault_lookups_per_minute: float = Field(
        60.0, gt=0, description="Admin lookups by address (an address oracle) allowed per minute"
    )
    vault_resolutions_per_minute: float = Field(
        120_000.0,
        gt=0,
        description="Contacts one principal may resolve per minute (per vault replica); "
        "beyond it a batch is refused with 429, audited and alerted on",
    )
    vault_default_region: str | None = Field(
        None, description="ISO region for phone numbers written without a country code"
    )
    vault_db_pool_size: int = Field(10, ge=1)
    vault_anonymous_audit_interval_s: float = Field(
        60.0, gt=0, description="Requests without a valid token are audited as one row per interval"
    )
    vault_anonymous_rate_per_s: float = Field(
        50.0, gt=0, description="Beyond this rate, requests without a valid token get a 429"
    )

    def database_url(self) -> str:
        return self.database.dsn()

    def owner_database_url(self) -> str | None:
        owner = self.vault_owner_database_url
        return owner.get_secret_value() if owner else None
