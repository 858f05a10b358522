"""Our own e-mail tracking through a running status ingest: open pixel, click redirects
that only lead to the URL signed into the mail, and RFC 8058 one-click unsubscribe that
records the opt-out in the real vault."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from shared.events import StatusReported
from shared.tracking import TrackingTokens
from tests.status_ingest.conftest import Ingest
from tests.support.events import payload_of
from tests.vault.support import VaultClient, running_vault

USER = "player-77"


@pytest.fixture
async def vault(base_env: dict[str, str], vault_dsn: str, topics) -> AsyncIterator[VaultClient]:
    async with running_vault({**base_env, "BLINDPOST_VAULT_DATABASE_URL": vault_dsn}) as client:
        status, body = await client.put(USER, {"email": "jane.player@example.org"})
        assert status in (200, 201), body
        yield client


@pytest.fixture
def ingest_extra_env(vault: VaultClient) -> dict[str, str]:
    return {"BLINDPOST_VAULT_URL": vault.base_url}


def tokens(ingest: Ingest, base_env: dict[str, str]) -> TrackingTokens:
    return TrackingTokens(base_env["BLINDPOST_TRACKING_SECRET"].encode(), ingest.base_url)


async def test_open_pixel_and_click_redirect(ingest: Ingest, base_env: dict[str, str]) -> None:
    t = tokens(ingest, base_env)
    mid = str(uuid.uuid4())
    async with ingest.session.get(t.url("open", mid, USER)) as response:
        assert response.status == 200 and response.content_type == "image/gif"
        assert (await response.read()).startswith(b"GIF89a")
    offer = "https://casino.example/offer?utm=mail"
    async with ingest.session.get(
        t.url("click", mid, USER, url=offer), allow_redirects=False
    ) as response:
        assert response.status == 302 and response.headers["Location"] == offer

    # No open redirect: a forged or altered token leads nowhere and records nothing.
    forged = TrackingTokens(b"not-our-secret", ingest.base_url).url(
        "click", mid, USER, url="https://evil.example"
    )
    sealed = t.sign("click", mid, USER, url=offer)
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    for url in (
        forged,
        f"{ingest.base_url}/t/c/{flipped}",  # altered
        f"{ingest.base_url}/t/c/{sealed[:-4]}",  # cut short
        t.url("open", mid, USER).replace("/t/o/", "/t/c/"),  # an open token used as a click
        f"{ingest.base_url}/t/c/{t.sign('click', mid, USER, url='javascript:alert(1)')}",
    ):
        async with ingest.session.get(url, allow_redirects=False) as response:
            assert response.status == 404, url
            assert "Location" not in response.headers

    events = await ingest.statuses(expect=2)
    assert sorted(payload_of(e, StatusReported).status for e in events) == ["clicked", "opened"]
    assert {str(e.ext_message_id) for e in events} == {mid}


async def test_one_click_unsubscribe_records_the_opt_out_in_the_vault(
    ingest: Ingest, base_env: dict[str, str], vault: VaultClient
) -> None:
    t = tokens(ingest, base_env)
    mid = str(uuid.uuid4())
    url = t.url("unsubscribe", mid, USER)
    assert (await vault.resolve_one(USER, "email"))["status"] != "opted_out"

    async with ingest.session.get(url) as response:  # what a person (or a link scanner) sees
        page = await response.text()
        assert response.status == 200 and "method='post'" in page
    assert (await vault.resolve_one(USER, "email"))["status"] != "opted_out"  # GET changes nothing

    # RFC 8058: the mail client POSTs List-Unsubscribe=One-Click; 200, no redirect.
    async with ingest.session.post(
        url, data={"List-Unsubscribe": "One-Click"}, allow_redirects=False
    ) as response:
        assert response.status == 200
    assert (await vault.resolve_one(USER, "email"))["status"] == "opted_out"

    async with ingest.session.post(url, data={"something": "else"}) as response:
        assert response.status == 400
    forged = TrackingTokens(b"nope", ingest.base_url).url("unsubscribe", mid, "someone-else")
    async with ingest.session.post(forged, data={"List-Unsubscribe": "One-Click"}) as response:
        assert response.status == 404

    events = await ingest.statuses(expect=1)
    reported = [(str(e.ext_message_id), payload_of(e, StatusReported).status) for e in events]
    assert reported == [(mid, "unsubscribed")]
