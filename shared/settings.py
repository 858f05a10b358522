"""Typed settings read from an environment mapping (``BLINDPOST_`` prefix).

A service's settings are one class composed of groups: :class:`KafkaSettings` (every
service), a database (:class:`EventsDatabase` or :class:`VaultDatabase`), and its own fields.
Each group reads its variables from the same flat environment, so operators set
``KAFKA_BOOTSTRAP_SERVERS`` or ``DATABASE_URL`` once for the whole suite.

Settings are built from a mapping passed in (``Settings.from_env(env)``), so tests never
mutate ``os.environ``; an invalid value is reported by variable name and never echoed,
because it may be a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Self, get_args

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.topics import Topics

PREFIX = "BLINDPOST_"


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CsvList = Annotated[list[str], BeforeValidator(_split_csv)]
"""A list given as one comma-separated variable, e.g. ``a,b,c``."""


class SettingsError(ValueError):
    """A setting is missing or invalid.  The message names variables, never values."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


def _env(*names: str) -> Any:
    return AliasChoices(*names)


class EnvSettings(BaseSettings):
    """Read from one explicit mapping; fields typed as another ``EnvSettings`` are groups,
    read from the same mapping by their own rules."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, extra="ignore", frozen=True, populate_by_name=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what from_env() passes in counts: one explicit source, easy to reason about.
        return (init_settings,)

    @classmethod
    def env_names(cls, field_name: str) -> list[str]:
        """The environment variables a field is read from, first match wins."""
        alias = cls.model_fields[field_name].validation_alias
        if isinstance(alias, AliasChoices):
            return [str(choice) for choice in alias.choices]
        if isinstance(alias, str):
            return [alias]
        return [PREFIX + field_name.upper()]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        env = os.environ if env is None else env
        problems: list[str] = []
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            if name in overrides:
                continue
            group = field.annotation
            if isinstance(group, type) and issubclass(group, EnvSettings):
                try:
                    values[name] = group.from_env(env)
                except SettingsError as exc:
                    problems.extend(exc.problems)
                    # A stand-in, so the other fields' problems are reported with these.
                    values[name] = group.model_construct()
                continue
            for var in cls.env_names(name):
                if var in env:
                    values[name] = env[var]
                    break
            if _is_secret(field.annotation):
                try:
                    from_file = secret_from_file(cls.env_names(name), env)
                except SettingsError as exc:
                    problems.extend(exc.problems)
                else:
                    if from_file is not None:
                        values[name] = from_file
        values.update(overrides)
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            problems.extend(_describe(cls, exc))
        else:
            if not problems:
                return settings
        # Raised outside the except block so no traceback can chain the original (which
        # holds the rejected value).
        raise SettingsError(
            "invalid settings: "
            + "; ".join(problems)
            + " (values are not shown; fix the variables named)",
            problems,
        )

    def secret(self, name: str) -> str:
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def _is_secret(annotation: Any) -> bool:
    """``SecretStr``, ``SecretStr | None``, ``list[SecretStr]`` and the like."""
    return annotation is SecretStr or any(_is_secret(arg) for arg in get_args(annotation))


def secret_from_file(names: list[str], env: Mapping[str, str]) -> str | None:
    """A secret setting may come from a mounted file (a Kubernetes or Docker secret) named
    by ``<VARIABLE>_FILE``, so it need not sit in the process environment, where any
    ``/proc/<pid>/environ`` reader or crash dump sees it.  The file's trailing line break is
    not part of the secret.  Raises :class:`SettingsError` naming the variable."""
    for var in names:
        path = env.get(f"{var}_FILE")
        if path is None:
            continue
        if any(name in env for name in names):
            raise SettingsError(f"{var}_FILE: set either {var} or {var}_FILE, not both")
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except FileNotFoundError:
            # A path is no secret, and it is what the operator needs to see.
            raise SettingsError(f"{var}_FILE: no file at {path!r} (is it mounted?)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(
                f"{var}_FILE: the file at {path!r} cannot be read as text ({type(exc).__name__})"
            ) from None
    return None


def _describe(cls: type[EnvSettings], exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        field = str(error["loc"][0]) if error["loc"] else "?"
        var = cls.env_names(field)[0] if field in cls.model_fields else field
        problems.append(f"{var}: {error['msg']}")
    return problems


class KafkaSettings(EnvSettings):
    """How every service reaches Kafka and names what it uses there."""

    bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS", "BLINDPOST_KAFKA_BOOTSTRAP_SERVERS"),
    )
    topic_prefix: str = Field(
        "",
        validation_alias=_env("BLINDPOST_TOPIC_PREFIX"),
        description="prepended to every topic and consumer-group name (installations and "
        "tests keep apart by it)",
    )
    create_topics: bool = Field(
        True,
        validation_alias=_env("BLINDPOST_KAFKA_CREATE_TOPICS"),
        description="create missing topics at start; when false they are only checked",
    )
    lag_interval_s: float = Field(
        5.0, gt=0, validation_alias=_env("BLINDPOST_METRICS_LAG_INTERVAL_S")
    )

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    def group(self, stage: str) -> str:
        return self.topics.group(stage)


class PostgresSettings(EnvSettings):
    url: SecretStr

    def dsn(self) -> str:
        return self.url.get_secret_value()


class EventsDatabase(PostgresSettings):
    """The event-store database (intake's directory, dispatch ledgers, the relay's store)."""

    url: SecretStr = Field(validation_alias=_env("DATABASE_URL", "BLINDPOST_DATABASE_URL"))


class VaultDatabase(PostgresSettings):
    """The vault's own database: only the vault's role reaches it."""

    url: SecretStr = Field(validation_alias=_env("BLINDPOST_VAULT_DATABASE_URL"))


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

    @property
    def topics(self) -> Topics:
        return self.kafka.topics
