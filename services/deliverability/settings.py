"""``blindpost run deliverability`` settings: its port and the complaint thresholds."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from shared.settings import BlindpostSettings


class DeliverabilitySettings(BlindpostSettings):
    deliverability_port: int = Field(8093, ge=0, le=65535)  # /healthz, /readyz, /metrics
    # A sending domain's 24 h complaint ratio at or above these is `critical` / `warning`
    # (Gmail and Yahoo ask bulk senders to stay under 0.3 %, and aim under 0.1 %).
    deliverability_complaint_threshold: float = Field(0.003, gt=0, le=1)
    deliverability_complaint_warning: float = Field(0.001, gt=0, le=1)
    # Below this many sends in 24 h a domain's ratio is noise (1 complaint in 20 is 5 %):
    # it is exported, but moves no level.
    deliverability_min_sent: int = Field(100, ge=1)
    # Reports on a message are attributed to its domain for this long after its send.
    deliverability_lookback_days: int = Field(7, ge=1, le=30)
    # How often faust commits (offsets, and with them the changelog transaction).
    deliverability_commit_interval_s: float = Field(1.0, gt=0)

    # A worker that stopped heartbeating for this long loses its partitions to the others
    # (or to its own restart, which otherwise waits out the old session).
    deliverability_session_timeout_s: float = Field(10.0, ge=6, le=300)

    @model_validator(mode="after")
    def _warning_below_threshold(self) -> Self:
        if self.deliverability_complaint_warning > self.deliverability_complaint_threshold:
            raise ValueError(
                "BLINDPOST_DELIVERABILITY_COMPLAINT_WARNING must not be above "
                "BLINDPOST_DELIVERABILITY_COMPLAINT_THRESHOLD"
            )
        return self
