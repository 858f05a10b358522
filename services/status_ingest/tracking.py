"""Our own e-mail tracking: open pixel, click redirects, RFC 8058 one-click unsubscribe.

Tokens are sealed by the e-mail dispatcher (``shared.tracking``); a click token carries the
one URL it may lead to, so there is no open redirect.  A one-click unsubscribe is a POST
(mail clients send ``List-Unsubscribe=One-Click``) answered 200 with no redirect; a GET only
shows a page with the same POST as a button, because link scanners follow GETs.
"""

from __future__ import annotations

import base64
import html
import uuid

from aiohttp import web
from yarl import URL

from services.status_ingest.ingest import StatusIngest
from services.status_ingest.providers.base import StatusReport
from services.status_ingest.vault_client import VaultOptOuts, VaultUnavailable
from shared.logging import get_logger
from shared.tracking import InvalidToken, TrackingTokens

log = get_logger(__name__)
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


class Tracking:
    def __init__(self, tokens: TrackingTokens, ingest: StatusIngest, vault: VaultOptOuts) -> None:
        self.tokens = tokens
        self.ingest = ingest
        self.vault = vault

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/t/o/{token}", self.opened),
            web.get("/t/c/{token}", self.clicked),
            web.get("/u/{token}", self.unsubscribe_page),
            web.post("/u/{token}", self.unsubscribe),
        ]

    def _claims(self, request: web.Request, kind: str) -> tuple[dict, uuid.UUID]:
        try:
            claims = self.tokens.verify(request.match_info["token"], kind)  # type: ignore[arg-type]
            return claims, uuid.UUID(str(claims["m"]))
        except (InvalidToken, KeyError, ValueError):
            raise web.HTTPNotFound(text="unknown link") from None

    async def _report(self, mid: uuid.UUID, kind: str, key: str) -> None:
        await self.ingest.record(
            [
                StatusReport(
                    provider="tracking",
                    provider_status=kind,
                    event_key=key,
                    ext_message_id=str(mid),
                )
            ]
        )

    async def opened(self, request: web.Request) -> web.Response:
        _claims, mid = self._claims(request, "open")
        await self._report(mid, "open", "open")
        return web.Response(body=PIXEL, content_type="image/gif", headers=NO_STORE)

    async def clicked(self, request: web.Request) -> web.Response:
        claims, mid = self._claims(request, "click")
        target = str(claims.get("url") or "")
        try:
            url = URL(target)
        except ValueError:
            raise web.HTTPNotFound(text="unknown link") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise web.HTTPNotFound(text="unknown link")
        # One clicked status per link: the url is part of the event key.
        await self._report(mid, "click", f"click:{target}")
        raise web.HTTPFound(location=target, headers=NO_STORE)

    async def unsubscribe_page(self, request: web.Request) -> web.Response:
        self._claims(request, "unsubscribe")
        action = html.escape(request.path, quote=True)
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Unsubscribe</title></head>"
            "<body><p>Stop receiving these e-mails?</p>"
            f"<form method='post' action='{action}'>"
            "<input type='hidden' name='List-Unsubscribe' value='One-Click'>"
            "<button type='submit'>Unsubscribe</button></form></body></html>"
        )
        return web.Response(text=page, content_type="text/html", headers=NO_STORE)

    async def unsubscribe(self, request: web.Request) -> web.Response:
        claims, mid = self._claims(request, "unsubscribe")
        form = await request.post()
        if form.get("List-Unsubscribe") != "One-Click":
            raise web.HTTPBadRequest(text="expected List-Unsubscribe=One-Click")
        try:
            await self.vault.opt_out(str(claims.get("u") or ""), "email", str(mid))
        except VaultUnavailable as exc:
            log.warning(
                "opt-out not recorded, vault unavailable", ext_message_id=str(mid), error=str(exc)
            )
            raise web.HTTPServiceUnavailable(text="please try again in a minute") from None
        await self._report(mid, "unsubscribe", "unsubscribe")
        return web.Response(text="You have been unsubscribed.", headers=NO_STORE)
