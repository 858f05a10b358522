from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from shared.settings import BlindpostSettings, CsvList, EventsDatabase


class RelaySettings(BlindpostSettings):
    # Smartico issues the API key: its length is not ours to choose (shared.secret_policy).
    issued_elsewhere: ClassVar[frozenset[str]] = frozenset({"callback_api_key"})
    callback_relay_port: int = 8087
    database: EventsDatabase
    callback_api_key: SecretStr
    callback_allowed_hosts: CsvList = Field(default_factory=list)
    callback_retry_period_s: float = Field(24 * 3600.0, gt=0)
    callback_retry_initial_s: float = Field(5.0, gt=0)
    callback_retry_max_s: float = Field(900.0, gt=0)
    callback_timeout_s: float = Field(10.0, gt=0)
    callback_concurrency: int = Field(256, ge=1)
    callback_per_host: int = Field(64, ge=1)
    callback_batch: int = Field(200, ge=1)
    callback_poll_interval_s: float = Field(0.2, gt=0)
    callback_lease_s: float | None = Field(
        None,
        gt=0,
        description="how long a claimed callback is reserved; default 3 x timeout + 30 s",
    )

    @property
    def lease_s(self) -> float:
        """After a crash mid-call, another replica retries once this has passed."""
        return self.callback_lease_s or self.callback_timeout_s * 3 + 30
