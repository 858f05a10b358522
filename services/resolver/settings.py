"""The resolver's settings: where the vault is, its token, and each dispatcher's sealing key."""

from __future__ import annotations

import socket

from pydantic import AliasChoices, Field, SecretStr

from shared.settings import BlindpostSettings, EventsDatabase


class ResolverSettings(BlindpostSettings):
    resolver_port: int = 8083
    # Where the resolver claims each message before it reads the vault (claims.py).
    database: EventsDatabase
    resolver_claim_retention_days: int = Field(30, ge=1)
    vault_url: str = "http://127.0.0.1:8081"
    vault_resolver_token: SecretStr
    vault_timeout_s: float = Field(10.0, gt=0)
    vault_batch_size: int = Field(200, ge=1, le=1000)
    seal_public_key_email: str
    seal_public_key_sms: str
    seal_public_key_cim: str
    resolver_instance: str = Field(
        default_factory=socket.gethostname,
        validation_alias=AliasChoices("BLINDPOST_INSTANCE_ID", "BLINDPOST_RESOLVER_INSTANCE"),
        description="stable per slot (a StatefulSet ordinal, not a pod name): names the "
        "Kafka transactional id, so a replacement fences its predecessor; the hostname "
        "default suits only a local run (docs/decisions.md)",
    )
    resolver_max_records: int = Field(500, ge=1)
