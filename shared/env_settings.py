"""How settings are read: :class:`EnvSettings`, built from one explicit environment mapping
(``BLINDPOST_`` prefix), its groups read from the same mapping, every problem reported by
variable name and never by value.  The groups themselves are in :mod:`shared.settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import AliasChoices, BeforeValidator, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.secret_files import SecretFileError, is_secret, secret_from_file
from shared.secret_policy import weak_secrets

PREFIX = "BLINDPOST_"
ENV_VAR = "BLINDPOST_ENV"
"""``local`` (set by deploy/local/blindpost.env) accepts the shipped, public secrets."""


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
        return [str(cls.model_config.get("env_prefix") or PREFIX) + field_name.upper()]

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
            if is_secret(field.annotation):
                try:
                    from_file = secret_from_file(cls.env_names(name), env)
                except SecretFileError as exc:
                    problems.append(str(exc))
                else:
                    if from_file is not None:
                        values[name] = from_file
        values.update(overrides)
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            problems.extend(_describe(cls, exc))
        else:
            if env.get(ENV_VAR) != "local":
                problems.extend(weak_secrets(settings, cls.env_names))
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


def _describe(cls: type[EnvSettings], exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        if not error["loc"]:  # a rule over several fields: its message names the variables
            problems.append(str(error["msg"]).removeprefix("Value error, "))
            continue
        field = str(error["loc"][0])
        var = cls.env_names(field)[0] if field in cls.model_fields else field
        problems.append(f"{var}: {error['msg']}")
    return problems
