"""Typed settings read from an environment mapping (``BLINDPOST_`` prefix).

A service's settings are one class composed of groups: :class:`KafkaSettings` (every
service), a database (:class:`EventsDatabase` or :class:`VaultDatabase`), and its own fields.
Each group reads its variables from the same flat environment, so operators set
``KAFKA_BOOTSTRAP_SERVERS`` or ``DATABASE_URL`` once for the whole suite.

Settings are built from a mapping passed in (``Settings.from_env(env)``), so tests never
mutate ``os.environ``; an invalid value is reported by variable name and never echoed,
because it may be a secret.  Outside ``BLINDPOST_ENV=local`` a weak or shipped secret is
refused (:mod:`shared.secret_policy`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, SecretStr

from shared.env_settings import PREFIX, CsvList, EnvSettings, SettingsError, _env
from shared.kafka_settings import KafkaSettings
from shared.topics import Topics

__all__ = [
    "BODY_RETENTION_DAYS",
    "PREFIX",
    "BlindpostSettings",
    "ContentKeysVault",
    "CsvList",
    "EnvSettings",
    "EventsDatabase",
    "KafkaSettings",
    "PostgresSettings",
    "SettingsError",
    "VaultDatabase",
]


# BLINDPOST_BODY_RETENTION_DAYS, the one number operators set for how long message content
# stays readable: the event store removes bodies older than it (services/eventstore/
# retention.py) and the vault destroys content keys whose period ended longer ago
# (services/vault/content_key_expiry.py), so the copies on the topics stop opening too.
BODY_RETENTION_DAYS = Field(
    90, ge=1, description="message content is removed and its keys destroyed after this"
)


class PostgresSettings(EnvSettings):
    url: SecretStr
    # Its password is the database's to set: refused only when it is the shipped one.
    issued_elsewhere: ClassVar[frozenset[str]] = frozenset({"url"})

    def dsn(self) -> str:
        return self.url.get_secret_value()


class EventsDatabase(PostgresSettings):
    """The event-store database (intake's directory, dispatch ledgers, the relay's store)."""

    url: SecretStr = Field(validation_alias=_env("DATABASE_URL", "BLINDPOST_DATABASE_URL"))


class VaultDatabase(PostgresSettings):
    """The vault's own database: only the vault's role reaches it."""

    url: SecretStr = Field(validation_alias=_env("BLINDPOST_VAULT_DATABASE_URL"))


class ContentKeysVault(EnvSettings):
    """Where intake and the dispatchers get players' content keys (``shared.content_keys``)."""

    vault_url: str = "http://127.0.0.1:8081"
    vault_content_token: SecretStr = Field(
        SecretStr(""),
        description="a principal with the vault's content scope (docs/vault.md); without it "
        "no content key is given, so sealed content is neither made nor opened",
    )
    content_keys_timeout_s: float = Field(5.0, gt=0)
    content_keys_cache_ttl_s: float = Field(
        5.0, ge=0, description="how long a handed-out key is reused before asking again"
    )
    content_keys_cache_size: int = Field(50_000, ge=0)


class BlindpostSettings(EnvSettings):
    """What every service has: Kafka, logging, where it listens."""

    kafka: KafkaSettings
    log_level: str = "INFO"
    log_format: str = Field("json", pattern="^(json|console)$")
    http_host: str = "127.0.0.1"
    shutdown_timeout_s: float = Field(
        20.0,
        gt=0,
        description="on SIGTERM, how long in-flight work may take to finish (keep it under "
        "the orchestrator's grace period)",
    )

    env: str = Field(
        "production",
        description="`local` (deploy/local/blindpost.env) accepts the shipped secrets and "
        "plain SMTP to any host",
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="serve /metrics on this port only (a second listener, so a network "
        "policy can admit Prometheus there alone); unset, /metrics is on the main port",
    )

    @property
    def topics(self) -> Topics:
        return self.kafka.topics

    @property
    def is_local(self) -> bool:
        return self.env == "local"

    def app_options(self) -> dict[str, Any]:
        """What ``create_service_app`` takes from the settings every service has."""
        return {
            "shutdown_timeout_s": self.shutdown_timeout_s,
            "metrics_port": self.metrics_port,
            "metrics_host": self.http_host,
        }
