"""The vault's settings: its own database, scoped tokens and key material."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from shared.settings import BlindpostSettings, CsvList, SettingsError, VaultDatabase


class VaultSettings(BlindpostSettings):
    # Refused when copied from the local env file (shared.secret_policy).
    key_material: ClassVar[frozenset[str]] = frozenset({"vault_keks"})
    vault_port: int = 8081
    database: VaultDatabase
    # Optional so that operator commands run without them; the server refuses to start
    # unless every one is set (see ``require_tokens``).
    vault_admin_token: SecretStr = SecretStr("")
    vault_resolver_token: SecretStr = SecretStr("")
    vault_auditor_token: SecretStr = SecretStr("")
    vault_unsubscribe_token: SecretStr = SecretStr("")
    # Secrets as a plain list: parsed once into a Keyring, never logged.
    vault_keks: CsvList = Field(repr=False)
    vault_active_kek: str
    vault_blind_index_key: SecretStr
    vault_blind_index_key_version: int = Field(1, ge=1)
    # Earlier blind-index keys, '<version>:<base64url key>', searched until re-indexed.
    vault_blind_index_previous_keys: CsvList = Field(default_factory=list, repr=False)
    vault_lookups_per_minute: float = Field(
        60.0, gt=0, description="Admin lookups by address (an address oracle) allowed per minute"
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

    def require_tokens(self) -> dict[str, str]:
        """Scope name -> token; every scope needs a distinct token of at least 16 characters."""
        tokens = {
            scope: self.secret(f"vault_{scope}_token")
            for scope in ("admin", "resolver", "auditor", "unsubscribe")
        }
        short = [s for s, t in tokens.items() if len(t) < 16]
        if short:
            raise SettingsError(
                ", ".join(f"BLINDPOST_VAULT_{s.upper()}_TOKEN" for s in short)
                + ": must be set, at least 16 characters"
            )
        if len(set(tokens.values())) != len(tokens):
            raise SettingsError("the BLINDPOST_VAULT_*_TOKEN values must all differ")
        return tokens

    def database_url(self) -> str:
        return self.database.dsn()
