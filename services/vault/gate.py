"""Who is asking, and whether they may: the bearer token names a principal and its scope
(compared in constant time against every token's digest), and a path's ext_user_id is
validated before anything records it.  A label the client sends is ignored."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from aiohttp import web

from services.vault.access import Caller, Scope
from services.vault.audit import Decision
from services.vault.domain import InvalidContact, validate_ext_user_id
from services.vault.principals import Principals

PRINCIPALS = web.AppKey("vault_principals", Principals)
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def _request_id(request: web.Request) -> str:
    given = SAFE_NAME.sub("", request.headers.get("X-Request-Id", ""))[:64]
    return given or str(uuid.uuid4())


def authenticate(request: web.Request) -> Caller:
    """The principal the bearer token belongs to, and the address the request came from."""
    header = request.headers.get("Authorization", "")
    presented = header[7:].strip() if header[:7].lower() == "bearer " else ""
    principal = request.app[PRINCIPALS].identify(presented)
    peer = request.remote
    if principal is None:
        return Caller("anonymous", Scope.NONE, _request_id(request), peer)
    return Caller(principal.name, principal.scope, _request_id(request), peer)


@dataclass(frozen=True)
class Refusal:
    decision: Decision
    outcome: str  # the metric label
    status: int
    error: str


def refusal_of(caller: Caller, scope: Scope, operation: str, path_ok: bool) -> Refusal | None:
    """Why an authenticated ``caller`` may not perform ``operation``, or None when it may."""
    if caller.scope is not scope:
        return Refusal(
            Decision.REFUSED_SCOPE, "wrong_scope", 403, f"this token's scope may not {operation}"
        )
    if not path_ok:
        return Refusal(Decision.REFUSED_INVALID, "invalid", 400, "invalid ext_user_id in the path")
    return None


def path_subject(request: web.Request) -> tuple[str | None, bool]:
    """The path's ext_user_id if it is a valid one (nothing else is ever stored), and
    whether the path is acceptable."""
    given = request.match_info.get("ext_user_id")
    if given is None:
        return None, True
    try:
        return validate_ext_user_id(given), True
    except InvalidContact:
        return None, False
