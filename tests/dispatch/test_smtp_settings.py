"""Mail leaves over STARTTLS unless the relay is on this host."""

from __future__ import annotations

import pytest

from services.dispatch.settings import EmailSettings
from shared.settings import SettingsError

STRONG = {
    "DATABASE_URL": "postgresql://dispatch:a-real-password@db/events",
    "BLINDPOST_TRACKING_SECRET": "t" * 40,
    "BLINDPOST_CIM_SIGNING_SECRET": "c" * 40,
}


def test_starttls_is_the_default() -> None:
    settings = EmailSettings.from_env({**STRONG, "BLINDPOST_SMTP_HOST": "smtp.example.net"})
    assert settings.smtp_tls == "starttls"


def test_plain_smtp_to_a_remote_relay_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="BLINDPOST_SMTP_TLS=none .* loopback"):
        EmailSettings.from_env(
            {**STRONG, "BLINDPOST_SMTP_HOST": "smtp.example.net", "BLINDPOST_SMTP_TLS": "none"}
        )


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_plain_smtp_to_loopback_is_allowed(host: str) -> None:
    settings = EmailSettings.from_env(
        {**STRONG, "BLINDPOST_SMTP_HOST": host, "BLINDPOST_SMTP_TLS": "none"}
    )
    assert settings.smtp_tls == "none"


def test_a_local_run_may_send_plain_anywhere() -> None:
    settings = EmailSettings.from_env(
        {
            "BLINDPOST_ENV": "local",
            "DATABASE_URL": "postgresql://dispatch@db/events",
            "BLINDPOST_SMTP_HOST": "mailhog",
            "BLINDPOST_SMTP_TLS": "none",
        }
    )
    assert settings.smtp_tls == "none"
