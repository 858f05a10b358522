"""The vault's settings: its own database, scoped tokens and key material."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr

from shared.settings import BlindpostSettings, CsvList


class VaultSettings(BlindpostSettings):
    vault_port: int = 8081
    vault_database_url: SecretStr = Field(
        SecretStr("postgresql://blindpost_vault@127.0.0.1:5432/blindpost_vault"),
        validation_alias=AliasChoices("BLINDPOST_VAULT_DATABASE_URL"),
    )
    vault_admin_token: SecretStr
    vault_resolver_token: SecretStr
    vault_auditor_token: SecretStr
    vault_unsubscribe_token: SecretStr
    # Secrets as a plain list: parsed once into a Keyring, never logged.
    vault_keks: CsvList = Field(repr=False)
    vault_active_kek: str
    vault_blind_index_key: SecretStr
    vault_default_region: str | None = Field(
        None, description="ISO region for phone numbers written without a country code"
    )
    vault_db_pool_size: int = Field(10, ge=1)

    def database_url(self) -> str:
        return self.vault_database_url.get_secret_value()
