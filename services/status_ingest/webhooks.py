"""The provider webhook endpoint: verify, check the replay window, parse, record."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

import asyncpg
from aiohttp import web
from aiokafka.errors import KafkaError
from prometheus_client import Counter

from services.status_ingest.ingest import StatusIngest
from services.status_ingest.providers.base import Inbound, InvalidSignature, Provider, Unusable
from shared.logging import get_logger

log = get_logger(__name__)

WEBHOOKS = Counter(
    "blindpost_status_webhooks_total",
    "Provider webhook requests by outcome"
    " (accepted, invalid_signature, stale, replay, unusable, unavailable)",
    ["provider", "outcome"],
)


async def inbound_of(request: web.Request, public_base_url: str) -> Inbound:
    return Inbound(
        method=request.method,
        # The URL the provider called (Twilio signs it), behind any proxy.
        url=public_base_url + str(request.rel_url),
        headers=request.headers,
        query=request.query,
        body=await request.read(),
        content_type=request.content_type,
    )


class Webhooks:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        ingest: StatusIngest,
        *,
        public_base_url: str,
        window_s: float,
        whatsapp_verify_token: str | None = None,
    ) -> None:
        self.providers = dict(providers)
        self.ingest = ingest
        self.public_base_url = public_base_url.rstrip("/")
        self.window_s = window_s
        self.whatsapp_verify_token = whatsapp_verify_token

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/webhooks/{provider}", self.handle),
            web.get("/webhooks/vonage", self.handle_vonage_get),
            web.get("/webhooks/whatsapp", self.whatsapp_challenge),
        ]

    async def handle_vonage_get(self, request: web.Request) -> web.Response:
        return await self._handle(request, "vonage")

    async def handle(self, request: web.Request) -> web.Response:
        return await self._handle(request, request.match_info["provider"])

    async def _handle(self, request: web.Request, name: str) -> web.Response:
        provider = self.providers.get(name)
        if provider is None:
            raise web.HTTPNotFound(text="no such provider configured")
        inbound = await inbound_of(request, self.public_base_url)
        try:
            verified = await provider.verify(inbound)
        except InvalidSignature as exc:
            return self._answer(name, "invalid_signature", 401, str(exc))
        except Unusable as exc:
            # A body the signature rule must read (WhatsApp's signed times, Vonage's form or
            # JSON parameters) that cannot be read.
            return self._answer(name, "unusable", 400, str(exc))
        if verified.signed_at is not None:
            window = verified.window_s or self.window_s
            if abs(time.time() - verified.signed_at) > window:
                return self._answer(
                    name, "stale", 401, "signed timestamp outside the replay window"
                )
        try:
            reply = await provider.handshake(inbound)
            if reply is not None:
                return self._answer(name, "accepted", reply.status, reply.text)
            reports = provider.parse(inbound)
        except Unusable as exc:
            return self._answer(name, "unusable", 400, str(exc))
        except InvalidSignature as exc:
            return self._answer(name, "invalid_signature", 401, str(exc))
        try:
            fresh = await self.ingest.accept(name, verified.nonce, reports)
        except (KafkaError, asyncpg.PostgresError, OSError) as exc:
            # Nothing was kept (the nonce rolled back): the provider's retry will be accepted.
            log.error("status not recorded", provider=name, error=type(exc).__name__)
            WEBHOOKS.labels(name, "unavailable").inc()
            raise web.HTTPServiceUnavailable(text="try again") from None
        if not fresh:
            return self._answer(name, "replay", 409, "replayed webhook refused")
        return self._answer(name, "accepted", 200, "ok")

    def _answer(self, provider: str, outcome: str, status: int, text: str) -> web.Response:
        WEBHOOKS.labels(provider, outcome).inc()
        if status >= 400:
            log.warning("webhook refused", provider=provider, outcome=outcome, reason=text[:200])
        return web.Response(status=status, text=text)

    async def whatsapp_challenge(self, request: web.Request) -> web.Response:
        """Meta's subscription check: echo ``hub.challenge`` when the verify token matches."""
        token = request.query.get("hub.verify_token", "")
        if (
            request.query.get("hub.mode") != "subscribe"
            or not self.whatsapp_verify_token
            or not hmac.compare_digest(token.encode(), self.whatsapp_verify_token.encode())
        ):
            raise web.HTTPForbidden(text="verification failed")
        return web.Response(text=request.query.get("hub.challenge", ""))
