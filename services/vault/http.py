"""The vault's HTTP API.  Every request names a scope through its bearer token; a request
outside its scope or without a purpose is refused, and the refusal is audited like any other
access.  A request without a valid token is refused before any I/O and audited in aggregate
(``anonymous``)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg
from aiohttp import web
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Histogram

from services.vault.access import Caller, NotFound, Scope, Throttled
from services.vault.anonymous import AnonymousRefusals
from services.vault.audit import Decision
from services.vault.crypto import IntegrityError
from services.vault.domain import ContactField, InvalidContact, parse_change, validate_ext_user_id
from services.vault.gate import SAFE_NAME, authenticate, path_subject, refusal_of
from services.vault.metrics import INTEGRITY_FAILURES, THROTTLED, count_reads
from services.vault.request_fields import channel_of, message_id_of
from services.vault.resolve import RESOLVE_PURPOSES, ContactRequest
from services.vault.service import VaultService
from services.vault.throttle import PerPrincipal
from services.vault.tombstones import REFUSAL, ErasedSubject, erasure_override_of
from shared.domain import Channel
from shared.logging import get_logger

log = get_logger(__name__)

SERVICE = web.AppKey("vault_service", VaultService)
ANONYMOUS = web.AppKey("vault_anonymous_refusals", AnonymousRefusals)
DEFAULT_REGION = web.AppKey("vault_default_region", str)
RESOLUTIONS = web.AppKey("vault_resolution_limits", PerPrincipal)

REQUESTS = Counter(
    "blindpost_vault_requests_total",
    "Vault API requests by operation and decision",
    ["operation", "decision"],
)
LATENCY = Histogram("blindpost_vault_request_duration_seconds", "Vault API latency", ["operation"])
MAX_BATCH = 1000

Handler = Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]


def _json(status: int, body: dict[str, object]) -> web.Response:
    return web.json_response(body, status=status)


def _anonymous(request: web.Request, operation: str) -> web.Response:
    """No database, no Kafka: counted, audited in aggregate, rate-limited."""
    if not request.app[ANONYMOUS].admit(operation):
        REQUESTS.labels(operation, "rate_limited").inc()
        return _json(429, {"error": "too many requests without a valid token"})
    REQUESTS.labels(operation, "unauthenticated").inc()
    return _json(401, {"error": "missing or unknown bearer token"})


def scoped(
    operation: str, scope: Scope
) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            caller = authenticate(request)
            if caller.scope is Scope.NONE:
                return _anonymous(request, operation)
            service = request.app[SERVICE]
            ext_user_id, path_ok = path_subject(request)
            with LATENCY.labels(operation).time():
                try:
                    refusal = refusal_of(caller, scope, operation, path_ok)
                    if refusal is not None:
                        fields = () if path_ok else ("ext_user_id",)
                        await service.refuse(
                            caller,
                            refusal.decision,
                            ext_user_id=ext_user_id,
                            fields=fields,
                            detail=operation,
                        )
                        REQUESTS.labels(operation, refusal.outcome).inc()
                        return _json(refusal.status, {"error": refusal.error})
                    response = await handler(request, caller)
                    REQUESTS.labels(operation, str(response.status)).inc()
                    return response
                except (TimeoutError, asyncpg.PostgresError, OSError, KafkaError) as exc:
                    log.warning(
                        "vault dependency unavailable",
                        operation=operation,
                        error=type(exc).__name__,
                    )
                    REQUESTS.labels(operation, "unavailable").inc()
                    return _json(503, {"error": "temporarily unavailable, safe to retry"})

        return endpoint

    return wrap


async def _body(request: web.Request) -> object:
    try:
        return await request.json()
    except ValueError:
        raise InvalidContact("body", "not valid JSON") from None


async def _invalid(
    request: web.Request, caller: Caller, exc: InvalidContact, **kw: object
) -> web.Response:
    await request.app[SERVICE].refuse(
        caller, Decision.REFUSED_INVALID, fields=(exc.audited_field,), detail=exc.reason, **kw
    )
    return _json(400, {"error": "invalid request", "field": exc.field, "reason": exc.reason})


@scoped("write subjects", Scope.ADMIN)
async def put_subject(request: web.Request, caller: Caller) -> web.Response:
    ext_user_id = request.match_info["ext_user_id"]
    try:
        body, override = erasure_override_of(await _body(request))
        change = parse_change(ext_user_id, body, request.app[DEFAULT_REGION])
    except InvalidContact as exc:
        return await _invalid(request, caller, exc, ext_user_id=ext_user_id[:256])
    try:
        facts = await request.app[SERVICE].write(caller, change, override)
    except ErasedSubject:
        return _json(409, {"error": "subject erased", "field": "ext_user_id", "reason": REFUSAL})
    except IntegrityError:
        INTEGRITY_FAILURES.labels("write subjects").inc()
        return _json(500, {"error": "stored data failed its integrity check"})
    return _json(200, {"status": "stored", "facts": facts.model_dump(mode="json")})


@scoped("erase subjects", Scope.ADMIN)
async def delete_subject(request: web.Request, caller: Caller) -> web.Response:
    try:
        await request.app[SERVICE].erase(caller, request.match_info["ext_user_id"])
    except NotFound:
        return _json(404, {"error": "subject not found"})
    return _json(200, {"status": "erased"})


@scoped("read subjects", Scope.ADMIN)
async def get_subject(request: web.Request, caller: Caller) -> web.Response:
    try:
        masked = await request.app[SERVICE].read_masked(caller, request.match_info["ext_user_id"])
    except NotFound:
        return _json(404, {"error": "subject not found"})
    except IntegrityError:
        INTEGRITY_FAILURES.labels("read subjects").inc()
        return _json(500, {"error": "stored data failed its integrity check"})
    return _json(200, masked)


@scoped("look up subjects by address", Scope.ADMIN)
async def lookup(request: web.Request, caller: Caller) -> web.Response:
    try:
        body = await _body(request)
        if (
            not isinstance(body, dict)
            or len(body) != 1
            or next(iter(body)) not in ("email", "phone")
        ):
            raise InvalidContact("body", "give exactly one of email or phone")
        field = ContactField(next(iter(body)))
        found = await request.app[SERVICE].lookup(caller, field, body[field.value])
    except InvalidContact as exc:
        return await _invalid(request, caller, exc)
    except Throttled:
        return _json(429, {"error": "too many lookups, try again later"})
    return _json(200, {"ext_user_ids": found})


def _contact_requests(body: object) -> tuple[str, list[ContactRequest]]:
    if not isinstance(body, dict):
        raise InvalidContact("body", "must be a JSON object")
    purpose = body.get("purpose")
    if not isinstance(purpose, str) or purpose not in RESOLVE_PURPOSES:  # a dict is unhashable
        raise InvalidContact("purpose", f"required, one of {sorted(RESOLVE_PURPOSES)}")
    items = body.get("requests")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise InvalidContact("requests", f"a list of 1-{MAX_BATCH} requests")
    parsed = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidContact(f"requests[{index}]", "must be an object")
        try:
            message_id = uuid.UUID(str(item["ext_message_id"]))
        except (KeyError, ValueError):
            raise InvalidContact(
                f"requests[{index}].ext_message_id", "required: the message this read is for"
            ) from None
        try:
            channel = Channel(str(item.get("channel")))
        except ValueError:
            raise InvalidContact(f"requests[{index}].channel", "unknown channel") from None
        ticket = item.get("ticket")
        if ticket is not None and not isinstance(ticket, str):
            raise InvalidContact(f"requests[{index}].ticket", "a resolution ticket is a string")
        parsed.append(
            ContactRequest(
                validate_ext_user_id(item.get("ext_user_id")), channel, message_id, ticket
            )
        )
    return str(purpose), parsed


@scoped("resolve contacts", Scope.RESOLVER)
async def resolve(request: web.Request, caller: Caller) -> web.Response:
    try:
        purpose, items = _contact_requests(await _body(request))
    except InvalidContact as exc:
        decision = (
            Decision.REFUSED_NO_PURPOSE
            if exc.field == "purpose" or exc.field.endswith("ext_message_id")
            else Decision.REFUSED_INVALID
        )
        await request.app[SERVICE].refuse(
            caller, decision, fields=(exc.audited_field,), detail=exc.reason
        )
        return _json(400, {"error": "invalid request", "field": exc.field, "reason": exc.reason})
    if not request.app[RESOLUTIONS].take(caller.name, len(items)):
        THROTTLED.labels(caller.name, "resolve contacts").inc(len(items))
        await request.app[SERVICE].refuse(
            caller, Decision.REFUSED_THROTTLED, purpose=purpose, detail=f"{len(items)} contacts"
        )
        return _json(429, {"error": "over this principal's resolution rate, try again later"})
    results = await request.app[SERVICE].resolve(caller, purpose, items)
    count_reads(caller, purpose, results)
    return _json(200, {"results": results})


@scoped("record opt-outs", Scope.UNSUBSCRIBE)
async def opt_out(request: web.Request, caller: Caller) -> web.Response:
    ext_user_id = request.match_info["ext_user_id"]
    try:
        body = await _body(request)
        if not isinstance(body, dict):
            raise InvalidContact("body", "must be a JSON object")
        channel, message_id = channel_of(body), message_id_of(body)
        source = SAFE_NAME.sub("", str(body.get("source") or "unsubscribe"))[:64] or "unsubscribe"
    except InvalidContact as exc:
        return await _invalid(request, caller, exc, ext_user_id=ext_user_id[:256])
    try:
        await request.app[SERVICE].record_opt_out(caller, ext_user_id, channel, message_id, source)
    except NotFound:
        return _json(404, {"error": "subject not found"})
    return _json(200, {"status": "recorded"})


@scoped("read the audit log", Scope.AUDITOR)
async def audit_log(request: web.Request, caller: Caller) -> web.Response:
    ext_user_id = request.query.get("ext_user_id", "")
    since = None
    try:
        validate_ext_user_id(ext_user_id)
        if request.query.get("since"):
            try:
                since = datetime.fromisoformat(request.query["since"])
            except ValueError:
                raise InvalidContact("since", "an ISO 8601 time") from None
    except InvalidContact as exc:
        return await _invalid(request, caller, exc)
    rows = await request.app[SERVICE].audit_trail(caller, ext_user_id, since)
    return _json(200, {"ext_user_id": ext_user_id, "entries": rows})


def add_routes(app: web.Application) -> None:
    app.router.add_put("/v1/subjects/{ext_user_id}", put_subject)
    app.router.add_get("/v1/subjects/{ext_user_id}", get_subject)
    app.router.add_delete("/v1/subjects/{ext_user_id}", delete_subject)
    app.router.add_post("/v1/subjects/{ext_user_id}/opt-outs", opt_out)
    app.router.add_post("/v1/lookups", lookup)
    app.router.add_post("/v1/contacts/resolve", resolve)
    app.router.add_get("/v1/audit", audit_log)
