"""The projector's and the event-store commands' settings."""

from __future__ import annotations

from pydantic import Field

from shared.settings import BODY_RETENTION_DAYS, BlindpostSettings, EventsDatabase


class EventStoreSettings(BlindpostSettings):
    database: EventsDatabase
    projector_port: int = Field(8088, ge=0, le=65535)
    projector_max_records: int = Field(500, ge=1, le=10_000)
    body_retention_days: int = BODY_RETENTION_DAYS
    retention_interval_s: float = Field(3600.0, gt=0)
    retention_batch: int = Field(10_000, ge=1)
    projector_session_timeout_ms: int = Field(10_000, ge=6_000)
