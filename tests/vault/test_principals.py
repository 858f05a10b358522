"""Named principals: the audit log names the principal a token belongs to (and the address
the request came from), never what the client says it is; a principal may hold several
tokens while one is rotated, and a token taken out of the configuration is refused."""

from __future__ import annotations

import hashlib
import uuid

import aiohttp
import pytest

from services.vault.principals import Principals, parse_entries
from shared.settings import SettingsError
from tests.vault.support import audit_rows, running_vault

OLD = "crm-sync-token-of-last-month-0001"
NEW = "crm-sync-token-of-this-month-0002"
LEGACY = {
    "admin": "an-admin-token-long-enough",
    "resolver": "a-resolver-token-long-enough",
    "auditor": "an-auditor-token-long-enough",
    "unsubscribe": "an-unsubscribe-token-long-enough",
}


async def put_as(base_url: str, token: str, ext_user_id: str, label: str = "") -> int:
    headers = {"Authorization": f"Bearer {token}", "X-Blindpost-Caller": label}
    async with (
        aiohttp.ClientSession() as session,
        session.put(
            f"{base_url}/v1/subjects/{ext_user_id}",
            json={"email": "ada@example.org"},
            headers=headers,
        ) as response,
    ):
        return response.status


async def writers(dsn: str) -> list[tuple[str, str, str | None]]:
    rows = await audit_rows(dsn)
    return [(r["ext_user_id"], r["caller"], r["peer"]) for r in rows if r["decision"] == "written"]


async def test_the_audit_names_the_token_s_principal_whatever_the_client_claims(
    vault_env, vault_dsn, topics
):
    env = {**vault_env, "BLINDPOST_VAULT_PRINCIPALS": f"crm-sync:admin:{NEW}"}
    async with running_vault(env) as vault:
        for label in ("", "admin", "dpo-console", "resolver:cron"):
            assert await put_as(vault.base_url, NEW, f"p-{len(label)}", label) == 200
        assert await put_as(vault.base_url, env["BLINDPOST_VAULT_ADMIN_TOKEN"], "p-x", "crm") == 200
    rows = await writers(vault_dsn)
    assert [(user, caller) for user, caller, _ in rows] == [
        ("p-0", "crm-sync"),
        ("p-5", "crm-sync"),
        ("p-11", "crm-sync"),
        ("p-13", "crm-sync"),
        ("p-x", "admin"),
    ]
    assert {peer for _, _, peer in rows} == {"127.0.0.1"}


async def test_both_tokens_of_a_rotating_principal_work_and_a_removed_one_is_refused(
    vault_env, vault_dsn, topics
):
    rotating = {
        **vault_env,
        "BLINDPOST_VAULT_PRINCIPALS": f"crm-sync:admin:{OLD},crm-sync:admin:{NEW}",
    }
    async with running_vault(rotating) as vault:
        assert await put_as(vault.base_url, OLD, "with-old") == 200
        assert await put_as(vault.base_url, NEW, "with-new") == 200
    # The old token is taken out; the new one is given as its digest only.
    digest = hashlib.sha256(NEW.encode()).hexdigest()
    rotated = {**vault_env, "BLINDPOST_VAULT_PRINCIPALS": f"crm-sync:admin:sha256:{digest}"}
    async with running_vault(rotated) as vault:
        assert await put_as(vault.base_url, OLD, "old-again") == 401
        assert await put_as(vault.base_url, NEW, "new-again") == 200
    assert [(user, caller) for user, caller, _ in await writers(vault_dsn)] == [
        ("with-old", "crm-sync"),
        ("with-new", "crm-sync"),
        ("new-again", "crm-sync"),
    ]


def legacy_entries() -> list[tuple[str, str, str]]:
    return [(scope, scope, token) for scope, token in LEGACY.items()]


def test_a_token_identifies_its_principal_and_nothing_else_does() -> None:
    principals = Principals.from_entries(
        [*legacy_entries(), *parse_entries(f"crm-sync:admin:{OLD}\ncrm-sync:admin:{NEW}")]
    )
    assert principals.identify(OLD) == principals.identify(NEW)
    found = principals.identify(NEW)
    assert found is not None and (found.name, found.scope.value) == ("crm-sync", "admin")
    assert principals.identify("") is None
    assert principals.identify(NEW + "x") is None
    assert principals.identify(hashlib.sha256(NEW.encode()).hexdigest()) is None


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ([("crm", "admin", OLD), ("crm", "auditor", NEW)], "given two scopes"),
        ([("crm", "admin", "short")], "16+ characters"),
        ([("crm", "admin", OLD), ("other", "admin", OLD)], "given twice"),
        ([("crm", "superuser", OLD)], "unknown scope"),
        ([(OLD + "!", "admin", NEW)], "entry 5"),
    ],
)
def test_a_bad_principal_is_refused_without_showing_a_token(entries, problem) -> None:
    with pytest.raises(SettingsError) as caught:
        Principals.from_entries([*legacy_entries(), *entries])
    assert problem in str(caught.value)
    assert OLD not in str(caught.value) and NEW not in str(caught.value)


def test_every_scope_needs_a_principal() -> None:
    with pytest.raises(SettingsError, match="no principal for the scopes auditor"):
        Principals.from_entries([e for e in legacy_entries() if e[0] != "auditor"])


def test_a_malformed_entry_is_refused_without_showing_it() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_entries(f"crm-sync:admin:{OLD},{NEW}")
    assert "entry 2 is not <principal>:<scope>:<token>" in str(caught.value)
    assert NEW not in str(caught.value)


async def test_resolutions_over_a_principal_s_rate_are_refused_audited_and_counted(
    vault_env, vault_dsn, topics
):
    other = "a-second-resolver-token-0003"
    env = {
        **vault_env,
        "BLINDPOST_VAULT_RESOLUTIONS_PER_MINUTE": "5",
        "BLINDPOST_VAULT_PRINCIPALS": f"resolver-b:resolver:{other}",
    }
    batch = [
        {"ext_user_id": f"p{i}", "channel": "email", "ext_message_id": str(uuid.uuid4())}
        for i in range(3)
    ]
    async with running_vault(env) as vault:
        assert (await vault.resolve(batch))[0] == 200
        status, body = await vault.resolve(batch)
        assert status == 429, body
        # Another principal has its own allowance.
        vault.env = {**env, "BLINDPOST_VAULT_RESOLVER_TOKEN": other}
        assert (await vault.resolve(batch))[0] == 200
        async with vault.session.get(vault.base_url + "/metrics") as response:
            metrics = await response.text()
    assert (
        'blindpost_vault_throttled_total{operation="resolve contacts",principal="resolver"} 3.0'
        in metrics
    )
    refused = [r for r in await audit_rows(vault_dsn) if r["decision"] == "refused_throttled"]
    assert [(r["caller"], r["purpose"], r["detail"]) for r in refused] == [
        ("resolver", "dispatch", "3 contacts")
    ]
