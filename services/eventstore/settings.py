"""The projector's and the event-store commands' settings."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.settings import BlindpostSettings

PROJECTOR_GROUP = "blindpost-projector"


def projector_group(topic_prefix: str) -> str:
    """``blindpost-projector``; an installation with a topic prefix gets its own group."""
    return topic_prefix + PROJECTOR_GROUP


class EventStoreSettings(BlindpostSettings):
    database_url: str = Field(
        "postgresql://blindpost_events:blindpost_events_local@127.0.0.1:5432/blindpost_events",
        validation_alias=AliasChoices("DATABASE_URL", "BLINDPOST_DATABASE_URL"),
    )
    projector_port: int = Field(8088, ge=0, le=65535)
    projector_max_records: int = Field(500, ge=1, le=10_000)
    body_retention_days: int = Field(
        90, ge=1, description="message bodies are removed from the event store after this"
    )
    retention_interval_s: float = Field(3600.0, gt=0)
    retention_batch: int = Field(10_000, ge=1)
    projector_session_timeout_ms: int = Field(10_000, ge=6_000)
