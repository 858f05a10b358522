"""The five Smartico endpoints: always HTTP 200 and a JSON body, whatever arrives."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import Counter, Histogram

from services.intake.auth import SecretChecker
from services.intake.refusals import REFUSALS
from services.intake.requests import InvalidRequest, Request, parse_request
from services.intake.service import Answer, Intake
from services.intake.throttle import LogThrottle
from shared.cim_template import CimTemplate
from shared.domain import Channel, ErrorCode
from shared.logging import get_logger

log = get_logger(__name__)

REQUESTS = Counter(
    "blindpost_intake_requests_total",
    "Requests answered, by channel and error code",
    ["channel", "error_code"],
)
LATENCY = Histogram(
    "blindpost_intake_request_duration_seconds",
    "Time from the request's arrival to its answer",
    ["channel"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
)
AUTH_FAILURES = Counter(
    "blindpost_intake_auth_failures_total",
    "Requests refused for a missing or wrong Authorization header",
    ["channel", "reason"],
)

JSON_TYPES = ("application/json",)


def _refuse(code: ErrorCode, message: str) -> Answer:
    return Answer.refused(code, message)


INTAKE = web.AppKey("intake", Intake)


def make_handler(
    channel: Channel,
    secrets: SecretChecker,
    max_body_bytes: int,
    cim_template: CimTemplate | None = None,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    requests_by_code = {code: REQUESTS.labels(channel.value, str(int(code))) for code in ErrorCode}
    latency = LATENCY.labels(channel.value)
    auth_log = LogThrottle(log)

    async def handle(request: web.Request) -> web.Response:
        started = time.perf_counter()
        parsed: Request | None = None
        try:
            answer, parsed = await _answer(request)
        except Exception as exc:  # noqa: BLE001 - Smartico gets a JSON answer, always
            log.error(
                "internal error", channel=channel.value, error=type(exc).__name__, exc_info=exc
            )
            answer = _refuse(ErrorCode.INTERNAL_ERROR, "Internal error")
        if answer.error_code != ErrorCode.ACCEPTED:
            request.app[REFUSALS].record(channel, answer.error_code, parsed, answer.reason)
        requests_by_code[answer.error_code].inc()
        latency.observe(time.perf_counter() - started)
        return web.json_response(answer.body())

    async def _answer(request: web.Request) -> tuple[Answer, Request | None]:
        header = request.headers.get("Authorization")
        if not secrets.allows(header):
            reason = "missing" if not header else "wrong"
            AUTH_FAILURES.labels(channel.value, reason).inc()
            auth_log.warning(
                "authorization refused", channel=channel.value, reason=reason, peer=request.remote
            )
            return _refuse(
                ErrorCode.UNAUTHORIZED, f"Unauthorized: Authorization header {reason}"
            ), None
        if request.content_length is not None and request.content_length > max_body_bytes:
            return _too_large(), None
        if "Content-Type" in request.headers and not _is_json(request.content_type):
            return _refuse(
                ErrorCode.INVALID_REQUEST, "invalid request: Content-Type must be application/json"
            ), None
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(), None
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return _refuse(
                ErrorCode.INVALID_REQUEST, "invalid request: the body is not valid JSON"
            ), None
        try:
            parsed = parse_request(channel, data, cim_template)
        except InvalidRequest as exc:
            return _refuse(ErrorCode.INVALID_REQUEST, str(exc)), None
        return await request.app[INTAKE].submit(channel, parsed), parsed

    def _too_large() -> Answer:
        return _refuse(
            ErrorCode.INVALID_REQUEST,
            f"invalid request: the body is larger than {max_body_bytes} bytes",
        )

    return handle


def _is_json(content_type: str) -> bool:
    return content_type in JSON_TYPES or content_type.endswith("+json")


def add_routes(
    app: web.Application,
    secrets: SecretChecker,
    max_body_bytes: int,
    cim_template: CimTemplate | None = None,
) -> None:
    """The handlers find the :class:`Intake` in ``app[INTAKE]``, set once the app started."""
    for channel in Channel:
        handler = make_handler(channel, secrets, max_body_bytes, cim_template)
        app.router.add_post(f"/v1/{channel.value}", handler)
