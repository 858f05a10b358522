"""``POST /v1/suppressions`` (unsubscribe scope: status ingest): put a player on the
suppression list for a channel, named by ``ext_user_id`` or by the message that caused it.

Body: ``{"channel", "reason": "hard_bounce|complaint|unsubscribe|stop", "source",
"ext_message_id"?, "ext_user_id"?, "phone"?, "detail"?}``; 200 ``{"status": "recorded"}``, 404
when the vault gave no address out for that message, no player holds that phone number, or
the player is unknown or erased."""

from __future__ import annotations

from aiohttp import web

from services.vault.access import Caller, NotFound, Scope
from services.vault.domain import InvalidContact, normalise_phone, validate_ext_user_id
from services.vault.gate import SAFE_NAME
from services.vault.http import DEFAULT_REGION, SERVICE, _body, _invalid, _json, scoped
from services.vault.request_fields import channel_of, message_id_of
from services.vault.suppressions import Reason, Suppression, SuppressionList

DETAIL = 32


def parse_suppression(body: object, region: str) -> tuple[Suppression, str | None, str | None]:
    """The suppression, and who it is for: a player, or the holders of a phone number (a
    STOP; normalised to E.164 here, never echoed), or else the recipient of the message."""
    if not isinstance(body, dict):
        raise InvalidContact("body", "must be a JSON object")
    channel, message_id = channel_of(body), message_id_of(body)
    try:
        reason = Reason(str(body.get("reason")))
    except ValueError:
        raise InvalidContact("reason", f"one of {sorted(r.value for r in Reason)}") from None
    user = body.get("ext_user_id")
    user = validate_ext_user_id(user) if user is not None else None
    phone = normalise_phone(body["phone"], region or None) if "phone" in body else None
    if user is None and message_id is None and phone is None:
        raise InvalidContact("ext_message_id", "name the player, the message or the phone")
    source = SAFE_NAME.sub("", str(body.get("source") or ""))[:64] or "unknown"
    detail = SAFE_NAME.sub("", str(body.get("detail") or ""))[:DETAIL] or None
    return Suppression(channel, reason, source, message_id, detail), user, phone


@scoped("record suppressions", Scope.UNSUBSCRIBE)
async def record_suppression(request: web.Request, caller: Caller) -> web.Response:
    try:
        suppression, user, phone = parse_suppression(
            await _body(request), request.app[DEFAULT_REGION]
        )
    except InvalidContact as exc:
        return await _invalid(request, caller, exc)
    suppressions = SuppressionList(request.app[SERVICE])
    try:
        if phone is not None:
            await suppressions.record_for_phone(caller, suppression, phone)
        else:
            await suppressions.record(caller, suppression, user)
    except NotFound:
        return _json(404, {"error": "no such player, or no address given out for that message"})
    return _json(200, {"status": "recorded"})


def add_suppression_routes(app: web.Application) -> None:
    app.router.add_post("/v1/suppressions", record_suppression)
