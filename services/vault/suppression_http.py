"""``POST /v1/suppressions`` (unsubscribe scope: status ingest): put a player on the
suppression list for a channel, named by ``ext_user_id`` or by the message that caused it.

Body: ``{"channel", "reason": "hard_bounce|complaint|unsubscribe|stop", "source",
"ext_message_id"?, "ext_user_id"?, "detail"?}``; 200 ``{"status": "recorded"}``, 404 when the
vault gave no address out for that message (or the player is unknown or erased)."""

from __future__ import annotations

from aiohttp import web

from services.vault.access import Caller, NotFound, Scope
from services.vault.domain import InvalidContact, validate_ext_user_id
from services.vault.gate import SAFE_NAME
from services.vault.http import SERVICE, _body, _invalid, _json, scoped
from services.vault.request_fields import channel_of, message_id_of
from services.vault.suppressions import Reason, Suppression, SuppressionList

DETAIL = 32


def parse_suppression(body: object) -> tuple[Suppression, str | None]:
    if not isinstance(body, dict):
        raise InvalidContact("body", "must be a JSON object")
    channel, message_id = channel_of(body), message_id_of(body)
    try:
        reason = Reason(str(body.get("reason")))
    except ValueError:
        raise InvalidContact("reason", f"one of {sorted(r.value for r in Reason)}") from None
    user = body.get("ext_user_id")
    user = validate_ext_user_id(user) if user is not None else None
    if user is None and message_id is None:
        raise InvalidContact("ext_message_id", "name the player or the message")
    source = SAFE_NAME.sub("", str(body.get("source") or ""))[:64] or "unknown"
    detail = SAFE_NAME.sub("", str(body.get("detail") or ""))[:DETAIL] or None
    return Suppression(channel, reason, source, message_id, detail), user


@scoped("record suppressions", Scope.UNSUBSCRIBE)
async def record_suppression(request: web.Request, caller: Caller) -> web.Response:
    try:
        suppression, user = parse_suppression(await _body(request))
    except InvalidContact as exc:
        return await _invalid(request, caller, exc)
    try:
        await SuppressionList(request.app[SERVICE]).record(caller, suppression, user)
    except NotFound:
        return _json(404, {"error": "no such player, or no address given out for that message"})
    return _json(200, {"status": "recorded"})


def add_suppression_routes(app: web.Application) -> None:
    app.router.add_post("/v1/suppressions", record_suppression)
