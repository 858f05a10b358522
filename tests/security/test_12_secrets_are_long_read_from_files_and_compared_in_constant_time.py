"""Item 12 of #16: intake secrets of at least 32 bytes outside a local run; every secret
setting may come from a mounted file (``<VARIABLE>_FILE``) instead of the environment; the
WhatsApp verify token is compared in constant time."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import pytest

from services.callback_relay.settings import RelaySettings
from services.intake.settings import IntakeSettings
from services.status_ingest import webhooks
from shared.settings import SettingsError

LONG = "a-smartico-secret-of-forty-bytes-length!"
TICKET_KEY = "0Bddo06z_J6VpWpGxwqD5Lyi2vVdim-WDzD4ZA9igs0"  # a test key, not a shipped one
INTAKE = {
    "DATABASE_URL": "postgresql://intake@db/blindpost",
    "BLINDPOST_SEAL_PUBLIC_KEY_EMAIL": "k1:AAAA",
    "BLINDPOST_INTAKE_TICKET_SIGNING_KEY": TICKET_KEY,
    "BLINDPOST_VAULT_CONTENT_TOKEN": LONG,
}


def test_a_short_intake_secret_stops_the_start_outside_a_local_run() -> None:
    short = "short-but-not-empty"
    with pytest.raises(SettingsError) as caught:
        IntakeSettings.from_env({**INTAKE, "BLINDPOST_INTAKE_SECRETS": f"{LONG},{short}"})
    assert "BLINDPOST_INTAKE_SECRETS" in str(caught.value) and "32 bytes" in str(caught.value)
    assert short not in str(caught.value)
    # Local runs keep their shipped short secret; long secrets pass anywhere.
    local = {**INTAKE, "BLINDPOST_ENV": "local", "BLINDPOST_INTAKE_SECRETS": short}
    assert IntakeSettings.from_env(local).secret_values() == [short.encode()]
    assert IntakeSettings.from_env({**INTAKE, "BLINDPOST_INTAKE_SECRETS": LONG}).intake_secrets


def test_every_secret_setting_can_come_from_a_mounted_file(tmp_path: Path) -> None:
    (tmp_path / "intake").write_text(f"{LONG},{LONG[::-1]}\n")  # a mounted file ends in \n
    (tmp_path / "dsn").write_text("postgresql://intake:pw@db/blindpost\n")
    settings = IntakeSettings.from_env(
        {
            "BLINDPOST_SEAL_PUBLIC_KEY_EMAIL": "k1:AAAA",
            "BLINDPOST_INTAKE_TICKET_SIGNING_KEY": TICKET_KEY,
            "BLINDPOST_VAULT_CONTENT_TOKEN": LONG,
            "BLINDPOST_INTAKE_SECRETS_FILE": str(tmp_path / "intake"),
            "DATABASE_URL_FILE": str(tmp_path / "dsn"),  # a group's secret, by its alias
        }
    )
    assert settings.secret_values() == [LONG.encode(), LONG[::-1].encode()]
    assert settings.database.dsn() == "postgresql://intake:pw@db/blindpost"

    (tmp_path / "api-key").write_text("callback-api-key-from-a-file")
    relay = RelaySettings.from_env(
        {
            "DATABASE_URL": "postgresql://relay@db/blindpost",
            "BLINDPOST_CALLBACK_API_KEY_FILE": str(tmp_path / "api-key"),
        }
    )
    assert relay.secret("callback_api_key") == "callback-api-key-from-a-file"


def test_a_missing_file_is_a_clear_error_naming_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "not-mounted"
    with pytest.raises(SettingsError) as caught:
        IntakeSettings.from_env({**INTAKE, "BLINDPOST_INTAKE_SECRETS_FILE": str(missing)})
    assert "BLINDPOST_INTAKE_SECRETS_FILE" in str(caught.value)
    assert str(missing) in str(caught.value)


def test_a_secret_set_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "intake").write_text(LONG)
    with pytest.raises(SettingsError, match="not both"):
        IntakeSettings.from_env(
            {
                **INTAKE,
                "BLINDPOST_INTAKE_SECRETS": LONG,
                "BLINDPOST_INTAKE_SECRETS_FILE": str(tmp_path / "intake"),
            }
        )


def test_the_whatsapp_verify_token_is_compared_in_constant_time() -> None:
    # Timing is not measurable in a unit test: the code is read instead.
    source = textwrap.dedent(inspect.getsource(webhooks.Webhooks.whatsapp_challenge))
    tree = ast.parse(source)
    compares = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any("verify_token" in ast.unparse(side) for side in (node.left, *node.comparators))
    ]
    assert compares == [], "the verify token is compared with == or !="
    assert "compare_digest" in source
