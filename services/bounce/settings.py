"""``blindpost run bounce-receiver`` settings: where the SMTP server listens, which VERP
addresses it accepts (``BLINDPOST_BOUNCE_DOMAIN``, ``BLINDPOST_BOUNCE_KEY``, shared with the
e-mail dispatcher that mints them) and how large a report may be."""

from __future__ import annotations

from pydantic import Field

from shared.settings import BlindpostSettings
from shared.verp import BounceAddresses


class BounceSettings(BlindpostSettings):
    bounce_receiver_port: int = 8090  # /healthz, /readyz, /metrics
    bounce_smtp_host: str = "127.0.0.1"  # 0.0.0.0 in the chart, for the operator's MX
    bounce_smtp_port: int = 2526
    bounce_smtp_max_bytes: int = Field(
        2 * 1024 * 1024, gt=0, description="larger reports are refused (552)"
    )
    bounce_smtp_max_recipients: int = Field(16, ge=1)
    bounce_smtp_timeout_s: float = Field(60.0, gt=0, description="an idle SMTP session ends")
    bounce: BounceAddresses
