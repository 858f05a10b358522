"""Who is asking, and whether they may: the bearer token names a scope (compared in constant
time against every token), and a path's ext_user_id is validated before anything records it."""

from __future__ import annotations

import hmac
import re
import uuid
from dataclasses import dataclass

from aiohttp import web

from services.vault.access import Caller, Scope
from services.vault.audit import Decision
from services.vault.domain import InvalidContact, validate_ext_user_id

TOKENS = web.AppKey("vault_tokens", dict)
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def _request_id(request: web.Request) -> str:
    given = SAFE_NAME.sub("", request.headers.get("X-Request-Id", ""))[:64]
    return given or str(uuid.uuid4())


def authenticate(request: web.Request) -> Caller:
    """Compare against every token, in constant time each, whatever matches first."""
    header = request.headers.get("Authorization", "")
    presented = header[7:].strip() if header[:7].lower() == "bearer " else ""
    scope = Scope.NONE
    for candidate, token in request.app[TOKENS].items():
        if hmac.compare_digest(presented.encode(), token.encode()) and presented:
            scope = candidate
    label = SAFE_NAME.sub("", request.headers.get("X-Blindpost-Caller", ""))[:64]
    name = scope.value if scope is not Scope.NONE else "anonymous"
    return Caller(f"{name}:{label}" if label else name, scope, _request_id(request))


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
