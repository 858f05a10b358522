"""Custom IM to the operator's notification centre: signed, and validated against the
configured template."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from aiohttp import web

from services.dispatch.cim_main import create_cim_app
from services.dispatch.settings import CimSettings
from shared.domain import Channel
from shared.events import DispatchFailed, DispatchSucceeded, EventType
from tests.dispatch.support import FakeProvider, Served, dispatch_until_settled, make_work, outcomes
from tests.support.events import payload_of

SECRET = "operator-shared-secret"
TEMPLATE = {
    "title": {"type": "string", "required": True},
    "action": {"type": "choice", "choices": ["BUY", "SELL"], "required": True},
    "urgent": {"type": "boolean"},
    "image": {"type": "media_url"},
}


def operator_verifies(header: str, raw: bytes, secret: str) -> bool:
    """What the operator's notification centre does (docs/dispatch.md), written from the
    documentation, not from our code."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    if abs(time.time() - timestamp) > 300:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


async def test_custom_im_is_signed_and_template_checked(
    dispatch_env, topics, keypair, kafka_bootstrap
):
    verified: list[bool] = []

    def answer(request: web.Request, raw: bytes, n: int) -> web.Response:
        ok = operator_verifies(request.headers["X-Blindpost-Signature"], raw, SECRET)
        verified.append(ok)
        return web.json_response({"id": f"inbox-{n}"}) if ok else web.json_response({}, status=401)

    receiver = FakeProvider(answer)
    async with Served(receiver.app("/notify")) as centre:
        env = {
            **dispatch_env,
            "BLINDPOST_CIM_URL": f"{centre.url}/notify",
            "BLINDPOST_CIM_SIGNING_SECRET": SECRET,
            "BLINDPOST_CIM_TEMPLATE": json.dumps(TEMPLATE),
        }
        good = make_work(
            Channel.CIM,
            "player-42",
            keypair[1],
            uid="im-good",
            body="Best offer ever",
            extension={
                "title": "Microsoft is raising",
                "action": "BUY",
                "urgent": True,
                "image": "https://cdn.example/msft.png",
            },
        )
        bad_choice = make_work(
            Channel.CIM,
            "player-42",
            keypair[1],
            uid="im-bad",
            body="x",
            extension={"title": "t", "action": "HOLD"},
        )
        missing = make_work(
            Channel.CIM,
            "player-42",
            keypair[1],
            uid="im-missing",
            body="x",
            extension={"action": "SELL"},
        )
        events = await dispatch_until_settled(
            create_cim_app(CimSettings.from_env(env)),
            kafka_bootstrap,
            topics,
            [good, bad_choice, missing],
        )

    assert verified == [True]
    ((request, raw),) = receiver.requests
    assert json.loads(raw) == {
        "ext_user_id": "player-42",
        "body": "Best offer ever",
        "im_uid": "im-good",
        "ext_message_id": str(good.ext_message_id),
        "extension": {
            "title": "Microsoft is raising",
            "action": "BUY",
            "urgent": True,
            "image": "https://cdn.example/msft.png",
        },
    }
    assert not operator_verifies(request.headers["X-Blindpost-Signature"], raw + b" ", SECRET)
    by_id = outcomes(events)
    delivered = payload_of(by_id[good.ext_message_id][-1], DispatchSucceeded)
    assert delivered.provider_message_id == "inbox-1"
    for work in (bad_choice, missing):
        final = by_id[work.ext_message_id][-1]
        assert final.type == EventType.DISPATCH_FAILED
        failed = payload_of(final, DispatchFailed)
        assert failed.retryable is False and failed.reason == "invalid_extension"
