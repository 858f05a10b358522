"""Starting the real vault app in process on a free port, and a small client per scope."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

from services.vault.app import create_app
from services.vault.settings import VaultSettings
from shared.contacts import ContactRequest
from shared.domain import Channel, ext_message_id_for
from shared.events import Event
from shared.tickets import TicketSigner, TicketSubject
from tests.support import events as build
from tests.support.env import local_env


@dataclass
class VaultClient:
    session: aiohttp.ClientSession
    base_url: str
    env: dict[str, str]

    def headers(self, scope: str | None) -> dict[str, str]:
        if scope is None:
            return {}
        if scope == "bogus":
            return {"Authorization": "Bearer not-a-real-token-at-all"}
        return {"Authorization": f"Bearer {self.env[f'BLINDPOST_VAULT_{scope.upper()}_TOKEN']}"}

    async def call(self, method: str, path: str, scope: str | None, **kwargs) -> tuple[int, dict]:
        async with self.session.request(
            method, self.base_url + path, headers=self.headers(scope), **kwargs
        ) as response:
            return response.status, await response.json()

    async def put(
        self, ext_user_id: str, body: dict, scope: str | None = "admin"
    ) -> tuple[int, dict]:
        return await self.call("PUT", f"/v1/subjects/{ext_user_id}", scope, json=body)

    async def erase(self, ext_user_id: str, scope: str | None = "admin") -> tuple[int, dict]:
        return await self.call("DELETE", f"/v1/subjects/{ext_user_id}", scope)

    def ticket(self, ext_user_id: str, channel: str, ext_message_id: str, **kw: float) -> str:
        """The ticket intake would sign for this read (``now``, ``ttl_s`` to make it late)."""
        subject = TicketSubject(uuid.UUID(ext_message_id), ext_user_id, Channel(channel))
        return ticket_signer(self.env, kw.get("ttl_s", 3600.0)).issue(subject, kw.get("now"))

    async def resolve(
        self, requests: list[dict], scope: str | None = "resolver", purpose="dispatch"
    ):
        """Each request without a ``ticket`` key gets a valid one, as from intake (give
        ``"ticket": None`` for none)."""
        requests = [
            r if "ticket" in r or not _ticketable(r) else {**r, "ticket": self.ticket(**r)}
            for r in requests
        ]
        body = {"purpose": purpose, "requests": requests}
        return await self.call("POST", "/v1/contacts/resolve", scope, json=body)

    async def resolve_one(self, ext_user_id: str, channel: str) -> dict:
        status, body = await self.resolve(
            [{"ext_user_id": ext_user_id, "channel": channel, "ext_message_id": str(uuid.uuid4())}]
        )
        assert status == 200, body
        return body["results"][0]


def ticket_signer(env: dict[str, str], ttl_s: float = 3600.0) -> TicketSigner:
    """Intake's ticket signer, from the same environment as the vault under test."""
    return TicketSigner.from_setting(env["BLINDPOST_INTAKE_TICKET_SIGNING_KEY"], ttl_s, "test")


def with_ticket(env: dict[str, str], request: ContactRequest) -> ContactRequest:
    return replace(request, ticket=ticket_signer(env).issue(request.ticket_subject()))


def _ticketable(request: object) -> bool:
    """A well-formed request (tests of malformed ones send them as they are)."""
    if not isinstance(request, dict) or set(request) != {
        "ext_user_id",
        "channel",
        "ext_message_id",
    }:
        return False
    try:
        uuid.UUID(str(request["ext_message_id"]))
        Channel(str(request["channel"]))
    except ValueError:
        return False
    return isinstance(request["ext_user_id"], str)


@asynccontextmanager
async def running_vault(env: dict[str, str], port: int | None = None) -> AsyncIterator[VaultClient]:
    server = TestServer(create_app(VaultSettings.from_env(env)), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            yield VaultClient(session, str(server.make_url("")).rstrip("/"), env)
    finally:
        await server.close()


async def audit_rows(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch("SELECT * FROM audit_log ORDER BY seq")
    finally:
        await conn.close()


def accepted_event(
    ext_user_id: str,
    channel: Channel,
    *,
    source: str = "vault",
    uid: str | None = None,
    ticket_ttl_s: float = 3600.0,
) -> Event:
    """As intake writes it: a message for the vault carries its ticket, signed with the
    local environment's key (the one the tests' vault trusts)."""
    uid = uid or uuid.uuid4().hex
    ticket = None
    if source == "vault":
        subject = TicketSubject(ext_message_id_for(channel, uid), ext_user_id, channel)
        ticket = ticket_signer(local_env(), ticket_ttl_s).issue(subject)
    return build.accepted(
        uid,
        channel=channel,
        ext_user_id=ext_user_id,
        callback_url="http://127.0.0.1:9900/cb",
        recipient_source=source,
        producer="test-intake",
        ticket=ticket,
    )


def kek_rotation_envs(env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(``env`` with a new KEK added and made active, ``env`` with the new KEK alone): the
    two steps of a rotation, before and after the old KEK is removed."""
    new_kek = "kek-2:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    rotating = {
        **env,
        "BLINDPOST_VAULT_KEKS": f"{env['BLINDPOST_VAULT_KEKS']},{new_kek}",
        "BLINDPOST_VAULT_ACTIVE_KEK": "kek-2",
    }
    return rotating, {**env, "BLINDPOST_VAULT_KEKS": new_kek, "BLINDPOST_VAULT_ACTIVE_KEK": "kek-2"}
