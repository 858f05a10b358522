"""Viber through Viber's own REST bot API (a business bot on Viber's commercial terms).

``POST {base}/pa/send_message`` with the header ``X-Viber-Auth-Token`` and JSON
``{"receiver": <Viber user id>, "min_api_version": 1, "sender": {"name"}, "tracking_data":
<ext_message_id>, "type": "text", "text"}``.  The receiver is the player's Viber id (the
vault's ``viber_id``), not a phone number.  Viber answers HTTP 200 to most refusals too: the
JSON ``status`` says (0 = sent, with ``message_token``, the id its callbacks name); 12 (too
many requests) is transient, the others are permanent, classed by number, never by
Viber's ``status_message``.  No idempotency key: after a crash an unknown outcome is not
resent.
"""

from __future__ import annotations

from services.dispatch.outcomes import PermanentFailure, Sent, TransientFailure
from services.dispatch.providers import Outbound, Redelivery
from services.dispatch.providers.http import HttpProvider, json_answer
from services.dispatch.settings import ViberSettings
from shared.credentials import ViberAccount
from shared.domain import Channel

TOO_MANY_REQUESTS = 12
# The refusals worth a name of their own; any other status is ``viber_status_<n>``.
REFUSALS = {
    2: "viber_invalid_token",
    5: "viber_receiver_not_registered",
    6: "viber_receiver_not_subscribed",
    11: "viber_receiver_no_suitable_device",
}


class ViberBotProvider(HttpProvider):
    name = "viber"
    redelivery: Redelivery = "none"

    def __init__(self, account: ViberAccount, *, concurrency: int = 100) -> None:
        auth_token, sender_name = account.require()
        super().__init__(concurrency)
        self.url = account.base_url.rstrip("/") + "/pa/send_message"
        self.headers = {"X-Viber-Auth-Token": auth_token}
        self.sender = {"name": sender_name[:28]}

    def payload(self, message: Outbound) -> dict[str, object]:
        return {
            "receiver": message.recipient,
            "min_api_version": 1,
            "sender": self.sender,
            "tracking_data": str(message.ext_message_id),
            "type": "text",
            "text": message.content.body or "",
        }

    async def send(self, message: Outbound) -> Sent:
        async with self.session.post(
            self.url, json=self.payload(message), headers=self.headers
        ) as response:
            body = await json_answer(response)
        status = body.get("status", 0)
        if status == TOO_MANY_REQUESTS:
            raise TransientFailure("viber_too_many_requests")
        if status != 0:
            raise PermanentFailure(REFUSALS.get(status, f"viber_status_{int(status)}"))
        token = body.get("message_token")
        return Sent(str(token) if token is not None else None, None)


def build(settings: ViberSettings, channel: Channel) -> ViberBotProvider:
    return ViberBotProvider(settings.viber, concurrency=settings.limits(channel).concurrency)
