"""Replies from players: an SMS ``STOP`` through a provider's inbound-message webhook puts the
number on the vault's suppression list for SMS (the vault finds the players holding it by its
blind index; the number is passed on, never logged or stored here).

``POST /webhooks/twilio/inbound``: Twilio's "a message comes in" webhook, signed as its status
callbacks are (``X-Twilio-Signature``).  A STOP is Twilio's ``OptOutType=STOP`` (Advanced
Opt-Out) or a body that is one of the carrier opt-out keywords.  Anything else is answered
with an empty TwiML response and ignored.  Twilio signs no time, so a replayed STOP can only
repeat a suppression already recorded.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import Counter

from services.status_ingest.providers.base import InvalidSignature, Provider
from services.status_ingest.suppression import SuppressionRequest, VaultSuppressions
from services.status_ingest.webhooks import inbound_of
from shared.domain import Channel
from shared.logging import get_logger

log = get_logger(__name__)
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

INBOUND = Counter(
    "blindpost_inbound_messages_total",
    "Inbound messages by outcome (stop, ignored, invalid_signature, unavailable)",
    ["provider", "outcome"],
)


def is_stop(form: dict[str, str]) -> bool:
    if form.get("OptOutType", "").upper() == "STOP":
        return True
    return form.get("Body", "").strip().strip(".!").casefold() in STOP_WORDS


class InboundMessages:
    def __init__(
        self, twilio: Provider | None, vault: VaultSuppressions, public_base_url: str
    ) -> None:
        self.twilio = twilio
        self.vault = vault
        self.public_base_url = public_base_url.rstrip("/")

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/webhooks/twilio/inbound", self.twilio_inbound)]

    async def twilio_inbound(self, request: web.Request) -> web.Response:
        if self.twilio is None:
            raise web.HTTPNotFound(text="no such provider configured")
        inbound = await inbound_of(request, self.public_base_url)
        try:
            await self.twilio.signature(inbound)
        except InvalidSignature:
            INBOUND.labels("twilio", "invalid_signature").inc()
            raise web.HTTPUnauthorized(text="invalid signature") from None
        form = inbound.form()
        number = form.get("From", "").removeprefix("whatsapp:")
        if not is_stop(form) or not number:
            INBOUND.labels("twilio", "ignored").inc()
            return web.Response(text=EMPTY_TWIML, content_type="text/xml")
        channel = Channel.WHATSAPP if form.get("From", "").startswith("whatsapp:") else Channel.SMS
        try:
            await self.vault.record(
                [SuppressionRequest(None, channel, "stop", "twilio", None, phone=number)]
            )
        except OSError as exc:
            # Not recorded: Twilio retries on a 5xx.
            INBOUND.labels("twilio", "unavailable").inc()
            log.warning("stop not recorded, vault unavailable", error=type(exc).__name__)
            raise web.HTTPServiceUnavailable(text="try again") from None
        INBOUND.labels("twilio", "stop").inc()
        log.info("stop recorded", provider="twilio", channel=channel.value)
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")
