"""How every service reaches Kafka (transport security included), names what it uses
there, and which topic policy ``blindpost topics create`` applies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator

from shared.env_settings import EnvSettings, SettingsError
from shared.topics import ALL_TOPICS, TopicPolicy, Topics

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

# BLINDPOST_TOPIC_<NAME>_PARTITIONS / _RETENTION_MS, NAME from the topic's registry name.
_TOPIC_OVERRIDE = re.compile(r"^BLINDPOST_TOPIC_([A-Z0-9_]+)_(PARTITIONS|RETENTION_MS)$")


def topic_env_name(topic: str) -> str:
    """``blindpost.dispatch.email`` -> ``DISPATCH_EMAIL``, as in
    ``BLINDPOST_TOPIC_DISPATCH_EMAIL_PARTITIONS``."""
    return re.sub(r"[^A-Z0-9]+", "_", topic.removeprefix("blindpost.").upper())


def _env(*names: str) -> Any:
    return AliasChoices(*names)


class KafkaSettings(EnvSettings):
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
        False,
        validation_alias=_env("BLINDPOST_KAFKA_CREATE_TOPICS"),
        description="create missing topics at start (local runs, tests); by default they are "
        "only checked, and `blindpost topics create` makes them",
    )
    lag_interval_s: float = Field(
        5.0, gt=0, validation_alias=_env("BLINDPOST_METRICS_LAG_INTERVAL_S")
    )
    security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", validation_alias=_env("BLINDPOST_KAFKA_SECURITY_PROTOCOL")
    )
    sasl_mechanism: SaslMechanism = Field(
        "SCRAM-SHA-512", validation_alias=_env("BLINDPOST_KAFKA_SASL_MECHANISM")
    )
    sasl_username: str | None = Field(None, validation_alias=_env("BLINDPOST_KAFKA_SASL_USERNAME"))
    sasl_password: SecretStr | None = Field(
        None, validation_alias=_env("BLINDPOST_KAFKA_SASL_PASSWORD")
    )
    ssl_ca_file: Path | None = Field(None, validation_alias=_env("BLINDPOST_KAFKA_SSL_CA_FILE"))
    ssl_cert_file: Path | None = Field(None, validation_alias=_env("BLINDPOST_KAFKA_SSL_CERT_FILE"))
    ssl_key_file: Path | None = Field(None, validation_alias=_env("BLINDPOST_KAFKA_SSL_KEY_FILE"))
    replication_factor: int = Field(
        3, ge=1, validation_alias=_env("BLINDPOST_KAFKA_REPLICATION_FACTOR")
    )
    min_insync_replicas: int = Field(
        2, ge=1, validation_alias=_env("BLINDPOST_KAFKA_MIN_INSYNC_REPLICAS")
    )
    topic_overrides: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="read from BLINDPOST_TOPIC_<NAME>_PARTITIONS / _RETENTION_MS",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        import os

        env = os.environ if env is None else env
        if "topic_overrides" not in overrides:
            overrides["topic_overrides"] = _topic_overrides(env)
        return super().from_env(env, **overrides)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = []
        protocol = self.security_protocol
        sasl = protocol.startswith("SASL_")
        if sasl and not self.sasl_username:
            problems.append(f"BLINDPOST_KAFKA_SASL_USERNAME is required with {protocol}")
        if sasl and not (self.sasl_password and self.sasl_password.get_secret_value()):
            problems.append(f"BLINDPOST_KAFKA_SASL_PASSWORD is required with {protocol}")
        if not sasl and (self.sasl_username or self.sasl_password):
            problems.append(
                "BLINDPOST_KAFKA_SASL_USERNAME/_PASSWORD are set but "
                f"BLINDPOST_KAFKA_SECURITY_PROTOCOL is {self.security_protocol}"
            )
        files = {
            "BLINDPOST_KAFKA_SSL_CA_FILE": self.ssl_ca_file,
            "BLINDPOST_KAFKA_SSL_CERT_FILE": self.ssl_cert_file,
            "BLINDPOST_KAFKA_SSL_KEY_FILE": self.ssl_key_file,
        }
        if not self.uses_tls and any(files.values()):
            problems.append(
                "BLINDPOST_KAFKA_SSL_* files are set but BLINDPOST_KAFKA_SECURITY_PROTOCOL is "
                f"{self.security_protocol}"
            )
        for var, path in files.items():
            if path is not None and not path.is_file():
                problems.append(f"{var}: no readable file at that path")
        if bool(self.ssl_cert_file) != bool(self.ssl_key_file):
            problems.append("BLINDPOST_KAFKA_SSL_CERT_FILE and _KEY_FILE go together")
        if self.min_insync_replicas > self.replication_factor:
            problems.append(
                "BLINDPOST_KAFKA_MIN_INSYNC_REPLICAS exceeds BLINDPOST_KAFKA_REPLICATION_FACTOR"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    def group(self, stage: str) -> str:
        return self.topics.group(stage)

    def topic_policy(self) -> TopicPolicy:
        return TopicPolicy(self.replication_factor, self.min_insync_replicas, self.topic_overrides)


def _topic_overrides(env: Mapping[str, str]) -> dict[str, dict[str, int]]:
    known = {topic_env_name(spec.name): spec.name for spec in ALL_TOPICS}
    found: dict[str, dict[str, int]] = {}
    problems = []
    for var, value in env.items():
        match = _TOPIC_OVERRIDE.match(var)
        if not match:
            continue
        name, what = match[1], match[2].lower()
        if name not in known:
            problems.append(f"{var}: no topic is named {name} (known: {', '.join(sorted(known))})")
        elif not value.isdigit() or int(value) < 1:
            problems.append(f"{var}: must be a positive whole number")
        else:
            found.setdefault(known[name], {})[what] = int(value)
    if problems:
        raise SettingsError("invalid settings: " + "; ".join(problems), problems)
    return found
