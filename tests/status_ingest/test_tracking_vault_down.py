"""One-click unsubscribe while the vault cannot record the opt-out: a clear 503 (the mail
client or the person retries) and no ``unsubscribed`` status reported for an opt-out that
was not kept."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from shared.tracking import TrackingTokens
from tests.status_ingest.conftest import Ingest
from tests.support.ports import free_port


@pytest.fixture
async def vault_stand_in() -> AsyncIterator[tuple[str, list[tuple[str, dict]]]]:
    seen: list[tuple[str, dict]] = []

    async def opt_out(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Authorization", ""), await request.json()))
        return web.json_response({"error": "unavailable"}, status=503)

    app = web.Application()
    app.router.add_post("/v1/subjects/{ext_user_id}/opt-outs", opt_out)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


@pytest.fixture
def ingest_extra_env(vault_stand_in) -> dict[str, str]:
    return {"BLINDPOST_VAULT_URL": vault_stand_in[0]}


async def test_vault_down_means_503_and_nothing_reported(
    ingest: Ingest, base_env: dict[str, str], vault_stand_in
) -> None:
    mid = str(uuid.uuid4())
    tokens = TrackingTokens(base_env["BLINDPOST_TRACKING_SECRET"].encode(), ingest.base_url)
    url = tokens.url("unsubscribe", mid, "player-9")
    async with ingest.session.post(url, data={"List-Unsubscribe": "One-Click"}) as response:
        assert response.status == 503
    assert await ingest.statuses_so_far() == []
    ((authorization, body),) = vault_stand_in[1]
    assert authorization == f"Bearer {base_env['BLINDPOST_VAULT_UNSUBSCRIBE_TOKEN']}"
    assert body == {"channel": "email", "ext_message_id": mid, "source": "one-click-unsubscribe"}
