"""Outside a local run a weak or shipped secret stops a service at start, named by its
variable and never shown."""

from __future__ import annotations

import pytest

from services.callback_relay.settings import RelaySettings
from services.intake.settings import IntakeSettings
from services.vault.settings import VaultSettings
from shared.secret_policy import SHIPPED_DIGESTS, shipped_digests
from shared.settings import SettingsError
from tests.support.env import local_env

STRONG = "k" * 40


def production(**changes: str) -> dict[str, str]:
    env = {**local_env(), **changes}
    del env["BLINDPOST_ENV"]
    return env


def test_the_digests_match_the_shipped_env_file() -> None:
    # When this fails, paste the printed list into shared/secret_policy.py.
    expected = shipped_digests(local_env().values())
    assert SHIPPED_DIGESTS == expected, sorted(expected)


def test_the_local_env_accepts_the_shipped_secrets() -> None:
    assert VaultSettings.from_env(local_env()).secret("vault_admin_token")


def test_a_shipped_secret_is_refused_outside_local_naming_the_variable() -> None:
    shipped = local_env()["BLINDPOST_VAULT_ADMIN_TOKEN"]
    with pytest.raises(SettingsError) as caught:
        VaultSettings.from_env(production())
    message = str(caught.value)
    assert "BLINDPOST_VAULT_ADMIN_TOKEN: is a public value shipped" in message
    # The database DSN with the shipped password is refused too.
    assert "BLINDPOST_VAULT_DATABASE_URL: is a public value shipped" in message
    # And the key-encryption keys, though they are a plain key list.
    assert "BLINDPOST_VAULT_KEKS: is a public value shipped" in message
    # The checkpoint signing key, the owner's DSN and the operator tools' tokens as well.
    for var in (
        "BLINDPOST_VAULT_AUDIT_SIGNING_KEY",
        "BLINDPOST_VAULT_KEK_EPOCH_MASTER",
        "BLINDPOST_VAULT_OWNER_DATABASE_URL",
        "BLINDPOST_VAULT_PRINCIPALS",
    ):
        assert f"{var}: is a public value shipped" in message
    assert shipped not in message and "blindpost_vault_local" not in message


def test_a_short_secret_is_refused_and_a_long_one_accepted() -> None:
    env = production(
        BLINDPOST_VAULT_DATABASE_URL="postgresql://vault:a-real-password@db/vault",
        BLINDPOST_VAULT_OWNER_DATABASE_URL="postgresql://owner:another-password@db/vault",
        BLINDPOST_VAULT_PRINCIPALS="",
        BLINDPOST_VAULT_AUDIT_SIGNING_KEY="",
        BLINDPOST_VAULT_KEK_EPOCH_MASTER="",
        BLINDPOST_VAULT_ADMIN_TOKEN="short-but-not-shipped",
        BLINDPOST_VAULT_RESOLVER_TOKEN=STRONG + "r",
        BLINDPOST_VAULT_AUDITOR_TOKEN="",  # unset: that scope is off, not weak
        BLINDPOST_VAULT_UNSUBSCRIBE_TOKEN=STRONG + "u",
        BLINDPOST_VAULT_CONTENT_TOKEN=STRONG + "c",
        BLINDPOST_VAULT_BLIND_INDEX_KEY="QmxpbmQtaW5kZXgta2V5LWZvci10aGUtcG9saWN5LXRlc3Q",
        BLINDPOST_VAULT_KEKS="kek-test-1:" + "A" * 43,
        BLINDPOST_VAULT_ACTIVE_KEK="kek-test-1",
    )
    with pytest.raises(SettingsError) as caught:
        VaultSettings.from_env(env)
    assert caught.value.problems == [
        "BLINDPOST_VAULT_ADMIN_TOKEN: a secret must be at least 32 bytes"
    ]
    assert "short-but-not-shipped" not in str(caught.value)
    env["BLINDPOST_VAULT_ADMIN_TOKEN"] = STRONG
    assert VaultSettings.from_env(env).secret("vault_admin_token") == STRONG


def test_a_credential_issued_elsewhere_is_not_held_to_our_length() -> None:
    env = production(
        DATABASE_URL="postgresql://events:a-real-password@db/events",
        BLINDPOST_CALLBACK_API_KEY="smartico-16-char",
    )
    assert RelaySettings.from_env(env).secret("callback_api_key") == "smartico-16-char"


def test_the_shipped_ticket_signing_key_is_refused_outside_local() -> None:
    env = production(BLINDPOST_INTAKE_SECRETS=STRONG, BLINDPOST_VAULT_CONTENT_TOKEN=STRONG)
    with pytest.raises(SettingsError) as caught:
        IntakeSettings.from_env(env)
    assert "BLINDPOST_INTAKE_TICKET_SIGNING_KEY: is a public value shipped" in "\n".join(
        caught.value.problems
    )
    assert local_env()["BLINDPOST_INTAKE_TICKET_SIGNING_KEY"] not in str(caught.value)
