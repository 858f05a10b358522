"""Replies from players: an SMS ``STOP`` through a provider's inbound-message webhook puts the
number on the vault's suppression list for that channel (the vault finds the players holding
it by its blind index; the number is passed on, never logged or stored here).

``POST /webhooks/{provider}/inbound`` (Vonage also ``GET``) for each configured provider that
forwards replies: Twilio, Vonage and our generic provider.  Each provider's reader
(``providers/<name>.py``) verifies the request with the provider's own signature and tells a
STOP from any other message, which is answered and ignored.  No nonce is kept: a replayed
STOP can only repeat a suppression already recorded.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from prometheus_client import Counter

from services.status_ingest.providers.base import InvalidSignature, Provider, Unusable
from services.status_ingest.providers.generic import Generic, GenericStops
from services.status_ingest.providers.stops import StopReader
from services.status_ingest.providers.twilio import Twilio, TwilioStops
from services.status_ingest.providers.vonage import Vonage, VonageStops
from services.status_ingest.suppression import SuppressionRequest, VaultSuppressions
from services.status_ingest.webhooks import inbound_of
from shared.logging import get_logger

log = get_logger(__name__)

INBOUND = Counter(
    "blindpost_inbound_messages_total",
    "Inbound messages by outcome (stop, ignored, invalid_signature, unusable, unavailable)",
    ["provider", "outcome"],
)


def stop_readers(providers: Mapping[str, Provider], window_s: float) -> dict[str, StopReader]:
    """A reader for each configured provider whose inbound messages we take."""
    readers: list[StopReader] = []
    for provider in providers.values():
        match provider:
            case Twilio():
                readers.append(TwilioStops(provider))
            case Vonage():
                readers.append(VonageStops(provider))
            case Generic():
                readers.append(GenericStops(provider, window_s))
    return {reader.name: reader for reader in readers}


class InboundMessages:
    def __init__(
        self,
        readers: Mapping[str, StopReader],
        vault: VaultSuppressions,
        public_base_url: str,
    ) -> None:
        self.readers = dict(readers)
        self.vault = vault
        self.public_base_url = public_base_url.rstrip("/")

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/webhooks/{provider}/inbound", self.handle),
            web.get("/webhooks/vonage/inbound", self.handle_vonage_get),
        ]

    async def handle_vonage_get(self, request: web.Request) -> web.Response:
        return await self._handle(request, "vonage")

    async def handle(self, request: web.Request) -> web.Response:
        return await self._handle(request, request.match_info["provider"])

    async def _handle(self, request: web.Request, name: str) -> web.Response:
        reader = self.readers.get(name)
        if reader is None:
            raise web.HTTPNotFound(text="no such provider configured")
        try:
            stop = await reader.read(await inbound_of(request, self.public_base_url))
        except InvalidSignature as exc:
            INBOUND.labels(name, "invalid_signature").inc()
            log.warning("inbound message refused", provider=name, reason=str(exc)[:200])
            raise web.HTTPUnauthorized(text="invalid signature") from None
        except Unusable as exc:
            INBOUND.labels(name, "unusable").inc()
            log.warning("inbound message refused", provider=name, reason=str(exc)[:200])
            raise web.HTTPBadRequest(text="unreadable inbound message") from None
        answer = web.Response(text=reader.answer.text, content_type=reader.answer.content_type)
        if stop is None:
            INBOUND.labels(name, "ignored").inc()
            return answer
        try:
            await self.vault.record(
                [SuppressionRequest(None, stop.channel, "stop", name, None, phone=stop.phone)]
            )
        except OSError as exc:
            # Not recorded: the provider retries on a 5xx.
            INBOUND.labels(name, "unavailable").inc()
            log.warning("stop not recorded, vault unavailable", error=type(exc).__name__)
            raise web.HTTPServiceUnavailable(text="try again") from None
        INBOUND.labels(name, "stop").inc()
        log.info("stop recorded", provider=name, channel=stop.channel.value)
        return answer
