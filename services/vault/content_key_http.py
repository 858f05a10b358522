"""``POST /v1/content-keys`` (content scope: intake and the dispatchers): players' content
keys (``services/vault/content_keys.py``).

Body: ``{"purpose": "content-seal" | "content-render", "ext_user_ids": [1-1000 ids]}``, and
for ``content-render`` the keys its contents name, ``"keys": [{"ext_user_id", "key_id"}]``
(1-1000; without it, each player's key of the current period); 200 ``{"keys":
[{"ext_user_id", "status": "ok", "key_id", "key"} | {"ext_user_id", "key_id" (when asked
for), "status": "erased" | "no_key" | "integrity_failure"}]}``.  ``content-seal`` makes a
key of the current period for a player who has none; ``content-render`` never does."""

from __future__ import annotations

from aiohttp import web

from services.vault.access import Caller, Scope
from services.vault.audit import Decision
from services.vault.content_keys import PURPOSES, Wanted
from services.vault.domain import InvalidContact, validate_ext_user_id
from services.vault.http import MAX_BATCH, SERVICE, _body, _json, scoped

OPERATION = "hand out content keys"


def parse_key_request(body: object) -> tuple[str, list[Wanted]]:
    if not isinstance(body, dict):
        raise InvalidContact("body", "must be a JSON object")
    purpose = body.get("purpose")
    if not isinstance(purpose, str) or purpose not in PURPOSES:
        raise InvalidContact("purpose", f"required, one of {sorted(PURPOSES)}")
    if "keys" in body and purpose == "content-render":
        return purpose, _keys_asked(body["keys"])
    users = body.get("ext_user_ids")
    if not isinstance(users, list) or not 1 <= len(users) <= MAX_BATCH:
        raise InvalidContact("ext_user_ids", f"a list of 1-{MAX_BATCH} ext_user_ids")
    return purpose, [(validate_ext_user_id(user), None) for user in users]


def _keys_asked(keys: object) -> list[Wanted]:
    shape = f"a list of 1-{MAX_BATCH} {{ext_user_id, key_id}}"
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_BATCH:
        raise InvalidContact("keys", shape)
    wanted: list[Wanted] = []
    for item in keys:
        key_id = item.get("key_id") if isinstance(item, dict) else None
        if not isinstance(key_id, str) or not 1 <= len(key_id) <= 64:
            raise InvalidContact("keys", shape)
        wanted.append((validate_ext_user_id(item.get("ext_user_id")), key_id))
    return wanted


@scoped(OPERATION, Scope.CONTENT)
async def content_keys(request: web.Request, caller: Caller) -> web.Response:
    service = request.app[SERVICE]
    try:
        purpose, users = parse_key_request(await _body(request))
    except InvalidContact as exc:
        purposeless = exc.field == "purpose"
        decision = Decision.REFUSED_NO_PURPOSE if purposeless else Decision.REFUSED_INVALID
        await service.refuse(caller, decision, fields=(exc.audited_field,), detail=exc.reason)
        return _json(400, {"error": "invalid request", "field": exc.field, "reason": exc.reason})
    return _json(200, {"keys": await service.content_keys.hand_out(caller, purpose, users)})


def add_content_key_routes(app: web.Application) -> None:
    app.router.add_post("/v1/content-keys", content_keys)
