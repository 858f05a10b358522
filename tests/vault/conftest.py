"""A real vault (the production app, in process, on a free port) over a scratch database
and this test's topics, and small clients for each scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.vault.app import create_app
from services.vault.settings import VaultSettings


@dataclass
class VaultClient:
    session: aiohttp.ClientSession
    base_url: str
    env: dict[str, str]

    def headers(self, scope: str | None) -> dict[str, str]:
        if scope is None:
            return {}
        return {"Authorization": f"Bearer {self.env[f'BLINDPOST_VAULT_{scope.upper()}_TOKEN']}"}

    async def call(self, method: str, path: str, scope: str | None, **kwargs) -> tuple[int, dict]:
        async with self.session.request(
            method, self.base_url + path, headers=self.headers(scope), **kwargs
        ) as response:
            return response.status, await response.json()

    async def put(self, ext_user_id: str, body: dict, scope: str | None = "admin") -> tuple[int, dict]:
        return await self.call("PUT", f"/v1/subjects/{ext_user_id}", scope, json=body)

    async def resolve(self, requests: list[dict], scope: str | None = "resolver", purpose="dispatch"):
        body = {"purpose": purpose, "requests": requests}
        return await self.call("POST", "/v1/contacts/resolve", scope, json=body)


@pytest.fixture
def vault_env(base_env: dict[str, str], vault_dsn: str) -> dict[str, str]:
    return {**base_env, "BLINDPOST_VAULT_DATABASE_URL": vault_dsn}


@pytest.fixture
async def vault(vault_env: dict[str, str], topics) -> AsyncIterator[VaultClient]:
    server = TestServer(create_app(VaultSettings.from_env(vault_env)), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield VaultClient(session, str(server.make_url("")).rstrip("/"), vault_env)
    await server.close()
