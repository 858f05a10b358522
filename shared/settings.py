"""Typed settings read from an environment mapping (``BLINDPOST_`` prefix).

Every service defines a subclass of :class:`BlindpostSettings`.  Settings are built from a
mapping passed in (``Settings.from_env(env)``), so tests never mutate ``os.environ``; an
invalid value is reported by variable name and never echoed, because it may be a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PREFIX = "BLINDPOST_"


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CsvList = Annotated[list[str], BeforeValidator(_split_csv)]
"""A list given as one comma-separated variable, e.g. ``a,b,c``."""


class SettingsError(ValueError):
    """A setting is missing or invalid.  The message names variables, never values."""


class BlindpostSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX, extra="ignore", frozen=True, populate_by_name=True
    )

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "BLINDPOST_KAFKA_BOOTSTRAP_SERVERS"
        ),
    )
    topic_prefix: str = Field("", description="prepended to every topic name (tests isolate by it)")
    log_level: str = "INFO"
    log_format: str = Field("json", pattern="^(json|console)$")
    http_host: str = "127.0.0.1"
    metrics_lag_interval_s: float = Field(5.0, gt=0)

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
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            for var in cls.env_names(name):
                if var in env:
                    values[name] = env[var]
                    break
        values.update(overrides)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problem = _describe(cls, exc)
        # Raised outside the except block so no traceback can chain the original (which
        # holds the rejected value).
        raise SettingsError(problem)

    def secret(self, name: str) -> str:
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def _describe(cls: type[BlindpostSettings], exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        field = str(error["loc"][0]) if error["loc"] else "?"
        var = cls.env_names(field)[0] if field in cls.model_fields else field
        problems.append(f"{var}: {error['msg']}")
    return (
        "invalid settings: "
        + "; ".join(problems)
        + " (values are not shown; fix the variables named)"
    )
